"""Where a query's results stop being matches: the automatic relevance cut-off.

A library's files are mostly unrelated to any one query, so a query's scores over the whole library are its
background, in this library and with this model: the cut-off is that background's median plus `CUTOFF_Z`
robust standard deviations σ (median absolute deviations, scaled), and, with `CUTOFF_D`, no lower than
`CUTOFF_D` σ below the query's best result. It moves with the model's score scale and with the library,
where a fixed threshold is right for one model and one library only. `CUTOFF_Z` was chosen
on the synthetic benchmark's validation split (best F1; benchmarks/search_cutoff.py, which also reports its
precision and recall on the test split, see benchmarks/results/search_cutoff.md).
"""

from __future__ import annotations

import numpy as np

CUTOFF_Z = 2.5
CUTOFF_D: float | None = None  # None: no limit relative to the best result
MIN_VECTORS = 50  # fewer vectors than this are no background to tell matches from: no automatic cut-off
# Background rows per index (a fixed random sample of larger libraries): the median and MAD of 2000 scores are
# off the whole library's by a few % of σ (standard error). A large library's int8 first pass scores them
# with the rest (within ~0.002 of exact: a tenth of a background's spread, which it widens by < 1 %); a
# second pass over 5000 float rows took 1.6 ms of a 100k library's query.
SAMPLE = 2000


def background_rows(count: int, seed: int = 0) -> np.ndarray | None:
    """The rows (ascending) of an index of `count` rows that stand for its background (None: too few)."""
    if count < MIN_VECTORS:
        return None
    if count <= SAMPLE:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, SAMPLE, replace=False))


def automatic_cutoff(background: np.ndarray | None, best: float) -> float | None:
    """The score below which a query's results are background, from its `background` rows' scores (None where
    the library is too small); `best` is the query's best result."""
    return None if background is None else cutoff_from_scores(background, best)


def cutoff_from_scores(scores: np.ndarray, best: float, z: float = CUTOFF_Z, d: float | None = CUTOFF_D) -> float:
    """max(median + z·σ, best − d·σ) of a query's background `scores`, σ the scaled median absolute deviation:
    clear of the background, and (with `d`) close enough to the best result."""
    scores = np.asarray(scores, np.float64)
    median = float(np.median(scores))
    sigma = 1.4826 * float(np.median(np.abs(scores - median)))
    above_background = median + z * sigma
    return above_background if d is None else max(above_background, best - d * sigma)
