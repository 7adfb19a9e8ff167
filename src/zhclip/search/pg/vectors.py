"""A PostgreSQL library's vectors as the searcher ranks over them (`search.vectors.Vectors`), asked of the
database at every query: a file another machine indexed is found at the next query.

`PgReader.nearest` finds the candidate rows (exact scan or IVFFlat, with the filters in SQL); their contents' frames
are then scored again, every frame, with the query in float32 (the index compares it in float16), so that scores
and order are the SQLite library's for the same vectors. The only vectors held here are the background rows of
the automatic cut-off (`cutoff`): a sample of at most `cutoff.SAMPLE`, chosen as the in-memory index chooses its
own, loaded again after indexing commits (at most every `reload_every` seconds): a statistic that a few new files
barely move.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import numpy as np

from ..cutoff import background_rows
from ..store import Filters
from ..vectors import Found, FrameScores
from .store import PgReader

# seconds: the background sample is loaded again after indexing commits at most this often (choosing it reads
# every vector's id: a fraction of a second for millions, not to be paid every few seconds while machines index)
RELOAD_EVERY = 60.0


class DatabaseVectors:
    """The searcher asks it on the compute thread only (the background sample is that thread's); the reader
    gives each thread a connection of its own."""

    one_row_per_content = False  # not known without asking: searched as a library with videos is

    def __init__(self, reader: PgReader, reload_every: float = RELOAD_EVERY):
        self.reader = reader
        self.reload_every = reload_every
        self._background: np.ndarray | None = None  # float32 rows (None: too few vectors for a background)
        self._generation = -1
        self._loaded_at = -math.inf

    @property
    def approximate(self) -> bool:
        return bool(self.reader.conn.execute("SELECT to_regclass('vectors_ivfflat') IS NOT NULL").fetchone()[0])

    def nearest(self, query: np.ndarray, k: int, filters: Filters, background: bool = False) -> Found:
        """Every frame of the contents of the k rows the database finds, scored in float32, best first."""
        frames = self.frame_scores(query, {content_id for content_id, _, _ in self.reader.nearest(query, k, filters)})
        content_ids = np.concatenate([np.full(len(times), c, np.int64) for c, (times, _) in frames.items()] or [[]])
        times = np.concatenate([times for times, _ in frames.values()] or [[]]).astype(np.float32)
        scores = np.concatenate([scores for _, scores in frames.values()] or [[]]).astype(np.float32)
        best = np.argsort(-scores, kind="stable")
        background_scores = self.background_scores(query) if background else None
        return Found(content_ids[best].astype(np.int64), times[best], scores[best], background_scores, frames)

    def frame_scores(self, query: np.ndarray, content_ids: Iterable[int]) -> FrameScores:
        from pgvector import Vector

        rows = self.reader.conn.execute(
            "SELECT content_id, coalesce(t, 'NaN'), -(vector::vector <#> %s) FROM vectors "
            "WHERE content_id = ANY(%s) ORDER BY content_id, t",
            [Vector(np.asarray(query, np.float32)), sorted(int(c) for c in content_ids)],
        ).fetchall()
        grouped: dict[int, list[tuple[float, float]]] = {}
        for content_id, t, score in rows:
            grouped.setdefault(content_id, []).append((t, score))
        return {
            content_id: (np.array([t for t, _ in frames], np.float32), np.array([s for _, s in frames], np.float32))
            for content_id, frames in grouped.items()
        }

    def background_scores(self, query: np.ndarray) -> np.ndarray | None:
        """The query's scores of the background sample (None: too few vectors for one)."""
        now = time.monotonic()
        if now - self._loaded_at >= self.reload_every and self.reader.generation() != self._generation:
            self._generation = self.reader.generation()
            self._background = self._load_background()
            self._loaded_at = now
        return None if self._background is None else self._background @ np.asarray(query, np.float32)

    def _load_background(self) -> np.ndarray | None:
        """The rows `background_rows` picks out of the vectors in id order (the in-memory index's row order)."""
        count = self.reader.conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
        picked = background_rows(count)
        if picked is None:
            return None
        binary = self.reader.conn.cursor(binary=True)  # parsing 2000 vectors' text took 0.3 s
        rows = binary.execute(
            "SELECT v.vector FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM vectors) numbered "
            "JOIN unnest(%s::bigint[]) AS pick(n) USING (n) JOIN vectors v USING (id) ORDER BY v.id",
            [picked.tolist()],
        ).fetchall()
        return np.stack([vector.to_numpy() for (vector,) in rows]).astype(np.float32) if rows else None
