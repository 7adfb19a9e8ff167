"""Where a query's results stop being matches: the automatic relevance cut-off.

A library's files are mostly unrelated to any one query, so a query's scores over the whole library are its
background, in this library and with this model: the cut-off is that background's median plus `CUTOFF_Z`
robust standard deviations (median absolute deviations, scaled). It moves with the model's score scale and
with the library, where a fixed threshold is right for one model and one library only. `CUTOFF_Z` was chosen
on the synthetic benchmark's validation split (benchmarks/search_cutoff.py, which also reports its
precision and recall on the test split).
"""

from __future__ import annotations

import numpy as np

from .index import VectorIndex

CUTOFF_Z = 4.0
MIN_VECTORS = 50  # fewer vectors than this are no background to tell matches from: no automatic cut-off
SAMPLE = 20_000  # background rows scored per query (a fixed random sample in larger libraries)


def background_rows(index: VectorIndex, seed: int = 0) -> np.ndarray | None:
    """The rows that stand for the library's background (None: too few to say)."""
    if len(index) < MIN_VECTORS:
        return None
    if len(index) <= SAMPLE:
        return np.arange(len(index))
    return np.sort(np.random.default_rng(seed).choice(len(index), SAMPLE, replace=False))


def automatic_cutoff(index: VectorIndex, vector: np.ndarray, rows: np.ndarray | None, z: float = CUTOFF_Z):
    """The score below which results of `vector` are background (None where the library is too small)."""
    if rows is None:
        return None
    scores = index.scores(vector, rows).numpy().astype(np.float64)
    median = float(np.median(scores))
    spread = 1.4826 * float(np.median(np.abs(scores - median)))
    return median + z * spread
