"""A library opened for searching: its reader, what it records about itself, the model it is searched with
(checked against the one that indexed it), and the vectors the searcher ranks over (`vectors`): an SQLite
library's in memory, reloaded after indexing commits; a PostgreSQL library's asked of its database at every
query."""

from __future__ import annotations

import time
from pathlib import Path

from .compute import on_compute_thread
from .dupes import find_dupes
from .encode import MediaEncoder
from .errors import LibraryError
from .meta import LibraryMeta
from .mounts import Mounts
from .store import FileRecord, Reader
from .stores import AnyReader, open_reader
from .vector_index import APPROX_THRESHOLD, VectorIndex
from .vectors import MemoryVectors, Vectors

RELOAD_EVERY = 5.0  # seconds: a running indexer commits often; reload its work at most this often


class Library:
    """The read path of one library; `Searcher` ranks over it."""

    def __init__(
        self,
        reader: AnyReader,
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
        self.mounts = Mounts()  # where this machine sees the roots, when elsewhere than the library's paths
        self._memory: MemoryVectors | None = None
        self._database: Vectors | None = None if isinstance(reader, Reader) else database_vectors(reader)
        self._generation = -1
        self._loaded_at = 0.0
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
        reader = open_reader(db)
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

    @property
    def local_roots(self) -> list[str]:
        """The roots where this machine sees them (`--mount`): to scan, watch and open files under."""
        return self.mounts.local_roots(self.roots)

    def mount(self, mounts: list[tuple[str, str]]) -> None:
        """Roots this machine mounts elsewhere: (root name, local path) pairs (an InputError for a name the library
        lacks)."""
        self.mounts = Mounts.resolve(self.roots, mounts)

    def _check_model(self) -> None:
        recorded = self.meta.model
        if not self.encoder.identity.matches(recorded):
            raise LibraryError(
                self.path,
                f"this library was indexed with another model ({recorded.source}); search it with that model "
                "(leave out --model) or rebuild it with `zhclip index --reindex`",
            )

    # ------------------------------------------------------------ the vectors

    @property
    def vectors(self) -> Vectors:
        """What the searcher ranks over: an SQLite library's vectors in memory, reloaded after indexing commits
        (at most every `reload_every` seconds); a PostgreSQL library's database. Use on the compute thread."""
        if self._database is not None:
            return self._database
        return on_compute_thread(self._current_memory)

    @property
    def index(self) -> VectorIndex:
        """Every vector in memory: an SQLite library's, kept as `vectors`; a PostgreSQL library's, loaded on
        each call (for dupes, which compare every vector with every other)."""
        if self._database is not None:
            return VectorIndex(*self.reader.vectors(), single_query=True)
        return on_compute_thread(self._current_memory).index

    def _current_memory(self) -> MemoryVectors:
        # Only the compute thread runs this, so a reload never races another.
        if self._memory is None or self._stale():
            generation = self.reader.generation()
            vectors = self.reader.vectors()
            index = VectorIndex(*vectors, approx_threshold=self.approx_threshold, single_query=self.single_query)
            self._memory = MemoryVectors(index, self.reader)
            self._generation, self._loaded_at = generation, time.monotonic()
        return self._memory

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self.reload_every and self.reader.generation() != self._generation

    def dupes(self, threshold: float) -> list[list[FileRecord]]:
        """Near-duplicate groups (see `dupes`), found again only after an indexing run commits."""
        key = (threshold, self.reader.generation())
        if key not in self._dupes:
            self._dupes = {key: on_compute_thread(lambda: find_dupes(self.reader, self.index, threshold))}
        return self._dupes[key]

    def counts(self) -> dict[str, int]:
        """The library's file counts, counted again only after an indexing run commits."""
        generation = self.reader.generation()
        if self._counts[0] != generation:
            self._counts = (generation, self.reader.counts())
        return self._counts[1]


def database_vectors(reader: AnyReader) -> Vectors:
    """A PostgreSQL library's vectors, asked of its database."""
    from .pg.vectors import DatabaseVectors

    return DatabaseVectors(reader)
