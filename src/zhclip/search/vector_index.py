"""Step 5: the vector index, held in memory and loaded once per process.

Exact search is a matrix-vector product over every row. Small libraries keep a float32 matrix. Large ones
keep float16 rows plus an int8 copy with one scale per row: a first pass over the int8 copy (half the memory
traffic of float16) gives every row a score within a known error bound of its true score, and only rows
whose bound reaches the k-th best are rescored exactly from float16 — the top-k is still exact.

Above `approx_threshold` rows an inverted-file index is added: faiss k-means splits the rows into lists
(stored contiguously), and a query scores only the `nprobe` lists closest to it; `nprobe` is tuned at build
time so that recall@20 against exact search is at least `target_recall` for image-like queries and for text
queries. A trained model's text embeddings sit apart from its image embeddings (the modality gap: for the demo
model the mean text-minus-image offset points almost exactly away from the image mean, cosine -0.96), and their
nearest rows spread over more lists than a noisy copy of a row's do. Given real text query vectors
(`query_samples`), the tuning uses them and noisy rows moved by their mean offset from the rows; without them,
noisy rows moved away from the image mean and random directions stand in. Scores are cosine similarities.
The index is numpy; only the int8 first pass (`coarse`, torch's int8 kernels) imports PyTorch, for large
libraries.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from .cutoff import background_rows

COARSE_MIN_ROWS = 50_000
APPROX_THRESHOLD = 500_000
TARGET_RECALL = 0.97
CHUNK = 65_536


@dataclass
class Hits:
    rows: np.ndarray  # int64 row numbers into the index
    scores: np.ndarray  # float32 cosine similarities, best first
    background: np.ndarray | None = None  # scores of the index's `background_rows`, when asked for (see `cutoff`)


class VectorIndex:
    def __init__(
        self,
        content_ids: np.ndarray,
        times: np.ndarray,
        vectors: np.ndarray,
        approx_threshold: int = APPROX_THRESHOLD,
        target_recall: float = TARGET_RECALL,
        query_samples: np.ndarray | None = None,
        single_query: bool = False,
    ):
        """`query_samples`: real query vectors of the rows' model (e.g. recent text queries), used only to tune
        an approximate index. `single_query` (a command that asks one query): exact search over the rows as
        they are, without the int8 copy or the lists, whose building only many queries repay."""
        self.content_ids = np.asarray(content_ids, np.int64)
        self.times = np.asarray(times, np.float32)
        vectors = np.asarray(vectors)
        self.dim = vectors.shape[1] if vectors.ndim == 2 else 0
        self.lists: InvertedLists | None = None
        if len(vectors) >= approx_threshold and not single_query:
            self.lists = InvertedLists.build(vectors)
            perm = self.lists.permutation
            self.content_ids, self.times = self.content_ids[perm], self.times[perm]
            if vectors.flags.writeable:  # in place: the caller's copy is the index's, not a third one
                vectors[:] = vectors[perm]
            else:
                vectors = vectors[perm]
        big = len(vectors) >= COARSE_MIN_ROWS
        self.matrix = np.ascontiguousarray(vectors, np.float16 if big else np.float32)
        self.coarse = _int8_rows(self.matrix, self.lists is not None) if big and not single_query else None
        self._by_content = np.argsort(self.content_ids, kind="stable")
        sorted_ids = self.content_ids[self._by_content]
        self.one_row_per_content = not (sorted_ids[1:] == sorted_ids[:-1]).any()  # no video frames
        self.background_rows = background_rows(len(self.matrix))  # the rows whose scores `search` can report
        if self.lists is not None:
            self.lists.tune(self, target_recall, query_samples)

    def __len__(self) -> int:
        return len(self.content_ids)

    @property
    def approximate(self) -> bool:
        return self.lists is not None

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        exact: bool = False,
        background: bool = False,
    ) -> Hits:
        """The k best rows for a normalised query; `allowed` is a boolean mask over rows (filters); `background`:
        also the scores of the background rows (from the int8 pass where there is one)."""
        if len(self) == 0 or k <= 0:
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        q = np.ascontiguousarray(query, np.float32)
        mask = None if allowed is None else np.asarray(allowed, bool)
        every_row = None  # every row's (first-pass) score, where this search computes them
        if self.lists is not None and not exact:
            rows = self.lists.shortlist(self, q, 2 * k, mask)
        elif self.coarse is not None:
            approximate = self.coarse.approximate(q)
            rows = self.coarse.candidates(approximate, q, k, mask)
            every_row = approximate.numpy()
        else:
            rows = None if mask is None else np.flatnonzero(mask)
        scores = self.scores(q, rows)
        top = top_k(scores, k)
        chosen = top if rows is None else rows[top]
        hits = Hits(chosen.astype(np.int64), np.clip(scores[top], -1.0, 1.0))
        if background and (sample := self.background_rows) is not None:
            every_row = scores if rows is None else every_row
            hits.background = every_row[sample] if every_row is not None else self.scores(q, sample)
        return hits

    def scores(self, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Exact cosine scores (float32) of `rows` (all rows when None)."""
        q = np.asarray(query, np.float32)
        if rows is None:
            if self.matrix.dtype == np.float32:
                return self.matrix @ q
            blocks = range(0, len(self), CHUNK)
            return np.concatenate([_float32(self.matrix[i : i + CHUNK]) @ q for i in blocks])
        return _float32(self.matrix.take(np.asarray(rows), axis=0)) @ q

    def first_pass(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cheap scores of `rows`: from the int8 copy when there is one."""
        if self.coarse is None:
            return self.scores(q, rows)
        return self.coarse.scores(q, rows)

    def rows_of(self, content_id: int) -> np.ndarray:
        """The rows of one content (one for an image, one per sampled frame for a video)."""
        order = self._by_content
        lo = np.searchsorted(self.content_ids, content_id, sorter=order, side="left")
        hi = np.searchsorted(self.content_ids, content_id, sorter=order, side="right")
        return order[lo:hi]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, highest first."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return best[np.argsort(-scores[best], kind="stable")]


def _float32(block: np.ndarray) -> np.ndarray:
    """float16 rows as float32: by torch where a large library's int8 pass has imported it (~5x numpy's
    conversion), else by numpy (a one-query process is faster without importing torch)."""
    if block.dtype == np.float32:
        return block
    if "torch" not in sys.modules:
        return block.astype(np.float32)
    from .coarse import to_float32

    return to_float32(block)


def _int8_rows(matrix: np.ndarray, subsets: bool):
    from .coarse import Int8Rows  # PyTorch's int8 kernels: imported for large libraries only

    return Int8Rows.build(matrix, subsets)


@dataclass
class InvertedLists:
    """faiss k-means lists over the rows; rows are reordered so that each list is one contiguous slice."""

    centroids: object  # faiss.IndexFlatIP over the list centroids
    permutation: np.ndarray  # new row order (list by list)
    offsets: np.ndarray  # list i is rows offsets[i]:offsets[i+1]
    nprobe: int = 16

    @classmethod
    def build(cls, vectors: np.ndarray, seed: int = 0) -> InvertedLists:
        import faiss

        n, dim = vectors.shape
        nlist = max(16, int(math.sqrt(n)))
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, min(n, nlist * 40), replace=False))].astype(np.float32)
        kmeans = faiss.Kmeans(dim, nlist, niter=12, spherical=True, seed=seed)
        kmeans.train(sample)
        assign = np.concatenate(
            [kmeans.index.search(vectors[i : i + CHUNK].astype(np.float32), 1)[1][:, 0] for i in range(0, n, CHUNK)]
        )
        permutation = np.argsort(assign, kind="stable")
        offsets = np.searchsorted(assign[permutation], np.arange(nlist + 1))
        return cls(kmeans.index, permutation, offsets)

    @property
    def nlist(self) -> int:
        return len(self.offsets) - 1

    def shortlist(self, index: VectorIndex, q: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
        """The k best rows (first-pass scores) of the `nprobe` lists nearest to q."""
        _, lists = self.centroids.search(q[None], self.nprobe)
        lists = lists[0][lists[0] >= 0]
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in lists])
        if mask is not None:
            rows = rows[mask[rows]]
        return rows[top_k(index.first_pass(q, rows), k)]

    def tune(
        self, index: VectorIndex, target_recall: float, query_samples: np.ndarray | None = None, k: int = 20
    ) -> None:
        """Tune nprobe on the families of `tuning_queries`."""
        self.tune_on(index, tuning_queries(index, query_samples), target_recall, k)

    def tune_on(self, index: VectorIndex, families: list[np.ndarray], target_recall: float, k: int = 20) -> None:
        """Smallest power-of-two nprobe whose recall@k reaches the target on every family of queries."""
        truths = [[set(index.search(q, k, exact=True).rows.tolist()) for q in family] for family in families]
        self.nprobe = 1
        while self.nprobe < self.nlist:
            if all(recall(index, f, t, k) >= target_recall for f, t in zip(families, truths, strict=True)):
                return
            self.nprobe *= 2
        self.nprobe = self.nlist


def tuning_queries(index: VectorIndex, query_samples: np.ndarray | None, count: int = 32) -> list[np.ndarray]:
    """Families of unit query vectors: noisy copies of rows (image-like queries) and text-like ones — the real
    samples and noisy rows moved by the samples' mean offset from the rows when there are samples; otherwise
    noisy rows moved away from the rows' mean (out of the image cone) and random directions."""
    rng = np.random.default_rng(1)
    picks = rng.choice(len(index), count, replace=False)
    rows = index.matrix[picks].astype(np.float32)
    noisy = _unit(rows + rng.normal(0, 1 / math.sqrt(index.dim), rows.shape).astype(np.float32))
    mean = index.matrix[rng.choice(len(index), min(len(index), 4096), replace=False)]
    mean = mean.astype(np.float32).mean(axis=0)
    if query_samples is not None and len(query_samples):
        samples = _unit(np.asarray(query_samples, np.float32).reshape(-1, index.dim))
        return [noisy, samples, _unit(noisy + samples.mean(axis=0) - mean)]
    return [noisy, _unit(noisy - mean), _unit(rng.standard_normal(rows.shape).astype(np.float32))]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def recall(index: VectorIndex, queries: np.ndarray, truth: list[set[int]], k: int) -> float:
    """Mean share of the exact top-k found by the index's default (approximate when built) search."""
    found = [
        len(set(index.search(q, k).rows.tolist()) & t) / max(1, len(t)) for q, t in zip(queries, truth, strict=True)
    ]
    return float(np.mean(found))
