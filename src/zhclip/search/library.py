"""A library opened for searching: its reader, what it records about itself, the model it is searched with
(checked against the one that indexed it), and its vectors in memory, reloaded after indexing commits."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .compute import on_compute_thread
from .dupes import find_dupes
from .encode import MediaEncoder
from .errors import LibraryError
from .meta import LibraryMeta
from .store import FileRecord, Filters, Reader
from .vector_index import APPROX_THRESHOLD, VectorIndex

RELOAD_EVERY = 5.0  # seconds: a running indexer commits often; reload its work at most this often
MASK_CACHE = 32  # filter masks kept per loaded index


class Library:
    """The read path of one library; `Searcher` ranks over it."""

    def __init__(
        self,
        reader: Reader,
        encoder: MediaEncoder,
        approx_threshold: int = APPROX_THRESHOLD,
        single_query: bool = False,
    ):
        """`single_query`: the index is built for one query (see `VectorIndex`)."""
        self.reader = reader
        self.encoder = encoder
        self.approx_threshold = approx_threshold
        self.single_query = single_query
        self.reload_every = RELOAD_EVERY
        self._index: VectorIndex | None = None
        self._generation = -1
        self._loaded_at = 0.0
        self._masks: dict[Filters, np.ndarray] = {}  # allowed rows of the loaded index, per filter
        self._counts: tuple[int, dict[str, int]] = (-1, {})
        self._dupes: dict[tuple[float, int], list[list[FileRecord]]] = {}  # per (threshold, generation)
        self._check_model()

    @classmethod
    def open(
        cls,
        db: str | Path,
        model: str | None = None,
        precision: str = "auto",
        device: str = "auto",
        approx_threshold: int | None = None,
        towers: tuple[str, ...] = ("image", "text"),
        runtime: str = "auto",
        image_later: bool = False,
        single_query: bool = False,
    ) -> Library:
        """`db` searched with `model` (default: the model the library was indexed with); `towers=("text",)`
        for text queries only; `image_later` loads the image tower after the text one (`MediaEncoder.load`);
        `single_query` for a command that asks one query (see `VectorIndex`)."""
        reader = Reader(db)
        source = model or reader.meta().model_source(db)
        options = {"device": device, "precision": precision, "runtime": runtime, "image_later": image_later}
        encoder = MediaEncoder.load(source, towers=towers, **options)
        threshold = {} if approx_threshold is None else {"approx_threshold": approx_threshold}
        return cls(reader, encoder, single_query=single_query, **threshold)

    @property
    def path(self) -> Path:
        return self.reader.path

    @property
    def meta(self) -> LibraryMeta:
        return self.reader.meta()

    @property
    def roots(self) -> list[str]:
        return list(self.meta.roots)

    def _check_model(self) -> None:
        recorded = self.meta.model
        if not self.encoder.identity.matches(recorded):
            raise LibraryError(
                self.path,
                f"this library was indexed with another model ({recorded.source}); search it with that model "
                "(leave out --model) or rebuild it with `zhclip index --reindex`",
            )

    # ------------------------------------------------------------ the vectors in memory

    @property
    def index(self) -> VectorIndex:
        """The vectors in memory; reloaded after indexing commits (at most every `reload_every` seconds)."""
        return on_compute_thread(self._current_index)

    def _current_index(self) -> VectorIndex:
        # Only the compute thread runs this, so a reload never races another.
        if self._index is None or self._stale():
            generation = self.reader.generation()
            vectors = self.reader.vectors()
            self._index = VectorIndex(*vectors, approx_threshold=self.approx_threshold, single_query=self.single_query)
            self._generation, self._loaded_at = generation, time.monotonic()
            self._masks.clear()
        return self._index

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self.reload_every and self.reader.generation() != self._generation

    def allowed_rows(self, index: VectorIndex, filters: Filters) -> np.ndarray | None:
        """Rows of `index` the filters allow, kept until the index reloads (a page re-sends the same filters).
        Call on the compute thread, with the index it returned."""
        if not filters.active:
            return None
        if filters not in self._masks:
            if len(self._masks) >= MASK_CACHE:
                del self._masks[next(iter(self._masks))]
            self._masks[filters] = np.isin(index.content_ids, self.reader.allowed_contents(filters))
        return self._masks[filters]

    def dupes(self, threshold: float) -> list[list[FileRecord]]:
        """Near-duplicate groups (see `dupes`), found again only after an indexing run commits."""
        key = (threshold, self.reader.generation())
        if key not in self._dupes:
            index = self.index
            self._dupes = {key: on_compute_thread(find_dupes, self.reader, index, threshold)}
        return self._dupes[key]

    def counts(self) -> dict[str, int]:
        """The library's file counts, counted again only after an indexing run commits."""
        generation = self.reader.generation()
        if self._counts[0] != generation:
            self._counts = (generation, self.reader.counts())
        return self._counts[1]
