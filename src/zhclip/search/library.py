"""Opening a library for searching: its reader, the model it was built with, and a searcher."""

from __future__ import annotations

import json
from pathlib import Path

from ..runtime import load
from .compute import on_compute_thread
from .encode import Encoder
from .errors import LibraryError
from .query import Searcher
from .store import Reader


def library_model_source(reader: Reader) -> str:
    source = reader.meta().get("model_source")
    if not source:
        raise LibraryError(
            reader.path,
            "the library has no model yet: index some files first (`zhclip index FOLDER --db PATH --model M`)",
        )
    return source


def library_roots(reader: Reader) -> list[str]:
    return json.loads(reader.meta().get("roots", "[]"))


def open_searcher(
    db: str | Path,
    model: str | None = None,
    precision: str = "auto",
    device: str = "auto",
    approx_threshold: int | None = None,
) -> Searcher:
    """A searcher over `db` with `model` (default: the model the library was indexed with)."""
    reader = Reader(db)
    source = model or library_model_source(reader)
    encoder = on_compute_thread(lambda: Encoder(load(source, device=device, precision=precision)))
    kwargs = {} if approx_threshold is None else {"approx_threshold": approx_threshold}
    return Searcher(reader, encoder, **kwargs)
