"""Top-k nearest neighbours by inner product, in blocks, without a queries x gallery matrix in memory.

Order matches Chinese-CLIP's `make_topk_predictions.py` (a stable sort by descending score): equal scores
keep gallery order, so ties go to the item that comes first in the gallery."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

QUERY_BLOCK = 512
GALLERY_BLOCK = 16384  # a block of scores is QUERY_BLOCK x GALLERY_BLOCK float32 = 32 MiB


def topk_stable(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the `k` largest scores of each row, by descending score, ties by ascending column.
    Linear time per row (a partition, not a full sort)."""
    n = scores.shape[1]
    if k >= n:
        return np.argsort(-scores, axis=1, kind="stable")
    kth = np.partition(scores, n - k, axis=1)[:, n - k : n - k + 1]  # the k-th largest value of each row
    above = scores > kth
    at_kth = scores == kth
    room = k - above.sum(axis=1, keepdims=True)  # how many of the tied values still fit, lowest columns first
    keep = above | (at_kth & (np.cumsum(at_kth, axis=1) <= room))
    columns = np.nonzero(keep)[1].reshape(len(scores), k)  # row-major: ascending columns within each row
    order = np.argsort(-np.take_along_axis(scores, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)


def chunked_topk(
    queries: np.ndarray,
    gallery: np.ndarray,
    k: int,
    progress: bool = False,
    desc: str = "top-k",
    query_block: int = QUERY_BLOCK,
    gallery_block: int = GALLERY_BLOCK,
) -> np.ndarray:
    """For each query row, the indices of its `k` best gallery rows (inner product), shape (queries, k)."""
    k = min(k, len(gallery))
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in tqdm(range(0, len(queries), query_block), desc=desc, unit="block", disable=not progress):
        block = queries[start : start + query_block]
        out[start : start + len(block)] = _block_topk(block, gallery, k, gallery_block)
    return out


def _block_topk(block: np.ndarray, gallery: np.ndarray, k: int, gallery_block: int) -> np.ndarray:
    best_scores = np.empty((len(block), 0), dtype=np.float32)
    best_index = np.empty((len(block), 0), dtype=np.int64)
    for start in range(0, len(gallery), gallery_block):
        scores = block @ gallery[start : start + gallery_block].T
        top = topk_stable(scores, k)
        # Earlier blocks come first, so a stable merge still breaks ties by gallery position.
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        merged_index = np.concatenate([best_index, top + start], axis=1)
        keep = topk_stable(merged_scores, k)
        best_scores = np.take_along_axis(merged_scores, keep, axis=1)
        best_index = np.take_along_axis(merged_index, keep, axis=1)
    return best_index
