from __future__ import annotations

from pathlib import Path

import pytest

import zhclip
from zhclip.search import IndexOptions, Library, MediaEncoder, Reader, Searcher, index_library

FAST = IndexOptions(workers=2, commit_every=0.0)


@pytest.fixture(scope="session")
def model_path(tiny_checkpoints) -> Path:
    return tiny_checkpoints["pt"]


@pytest.fixture(scope="session")
def encoder(model_path) -> MediaEncoder:
    return MediaEncoder(zhclip.load(model_path, device="cpu"))


@pytest.fixture
def index(encoder):
    """index(db, *roots, **options) -> summary, with fast test options."""

    def run(db: Path, *roots: Path, **options):
        return index_library(db, roots, encoder, IndexOptions(**{**FAST.__dict__, **options}))

    return run


@pytest.fixture
def searcher(encoder):
    def make(db: Path) -> Searcher:
        s = Searcher(Library(Reader(db), encoder))
        s.library.reload_every = 0.0
        return s

    return make
