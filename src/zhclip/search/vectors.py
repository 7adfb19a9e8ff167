"""What the searcher ranks over: a library's vectors, asked for the rows nearest a query and for the scores of
contents' frames. An SQLite library holds them in memory (`MemoryVectors`, over a `VectorIndex` that the library
reloads after indexing commits); a PostgreSQL library asks its database at every query (`pg.vectors`), so that
servers on several machines share one library and none of them answers from a stale copy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .store import Filters
from .stores import AnyReader
from .vector_index import VectorIndex

MASK_CACHE = 32  # filter masks kept per loaded index

# content id -> (its frame times ascending (NaN for an image), their scores for one query)
FrameScores = dict[int, tuple[np.ndarray, np.ndarray]]


@dataclass
class Found:
    """The rows nearest a query, best first."""

    content_ids: np.ndarray  # int64
    times: np.ndarray  # float32 frame times, NaN for an image
    scores: np.ndarray  # float32 cosine similarities
    background: np.ndarray | None = None  # the query's scores of the library's background rows (see `cutoff`)
    frames: FrameScores | None = None  # every frame of the found contents, where finding them scored those


class Vectors(Protocol):
    approximate: bool  # whether `nearest` may miss a row (an approximate index answers)
    one_row_per_content: bool  # no video frames: one row found is one content found

    def nearest(self, query: np.ndarray, k: int, filters: Filters, background: bool = False) -> Found:
        """The k rows nearest a normalised query among the files `filters` allows; `background`: with the
        background rows' scores."""
        ...

    def frame_scores(self, query: np.ndarray, content_ids: Iterable[int]) -> FrameScores:
        """Every frame's score of each content (an image: its one vector's); a content gone meanwhile is left out."""
        ...


class MemoryVectors:
    """An SQLite library's vectors, in memory: filter masks are kept until the index reloads (a page re-sends
    the same filters). Used from the compute thread only."""

    def __init__(self, index: VectorIndex, reader: AnyReader):
        self.index = index
        self.reader = reader
        self.approximate = index.approximate
        self.one_row_per_content = index.one_row_per_content
        self.masks: dict[Filters, np.ndarray] = {}

    def nearest(self, query: np.ndarray, k: int, filters: Filters, background: bool = False) -> Found:
        hits = self.index.search(query, k, self.allowed_rows(filters), background=background)
        return Found(self.index.content_ids[hits.rows], self.index.times[hits.rows], hits.scores, hits.background)

    def frame_scores(self, query: np.ndarray, content_ids: Iterable[int]) -> FrameScores:
        index = self.index
        scored = {}
        for content_id in content_ids:
            rows = index.rows_of(content_id)
            if len(rows) > 1:  # a video's frames, in time order
                rows = rows[np.argsort(index.times[rows])]
            scored[content_id] = (index.times[rows], index.scores(query, rows))
        return scored

    def allowed_rows(self, filters: Filters) -> np.ndarray | None:
        """The rows the filters allow (None: every row)."""
        if not filters.active:
            return None
        if filters not in self.masks:
            if len(self.masks) >= MASK_CACHE:
                del self.masks[next(iter(self.masks))]
            self.masks[filters] = np.isin(self.index.content_ids, self.reader.allowed_contents(filters))
        return self.masks[filters]
