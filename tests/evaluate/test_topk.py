"""Chunked top-k equals a full stable sort (Chinese-CLIP's order: score desc, ties by gallery position)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zhclip.evaluate.topk import chunked_topk, topk_stable


def _reference(scores: np.ndarray, k: int) -> np.ndarray:
    # Python's sorted(..., reverse=True) is stable, exactly as make_topk_predictions.py uses it.
    return np.array(
        [[i for i, _ in sorted(enumerate(row.tolist()), key=lambda x: x[1], reverse=True)[:k]] for row in scores]
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_topk_stable_matches_python_sorted_with_many_ties(rows, cols, k, seed):
    scores = np.random.default_rng(seed).integers(0, 4, size=(rows, cols)).astype(np.float32)  # ties galore
    np.testing.assert_array_equal(topk_stable(scores, k), _reference(scores, k))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 25),
    st.integers(1, 60),
    st.integers(1, 10),
    st.integers(1, 7),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
)
def test_blocked_search_equals_full_search(queries, gallery, k, query_block, gallery_block, seed):
    rng = np.random.default_rng(seed)
    # Small integer features: exact products, and many exact ties across gallery blocks.
    q = rng.integers(-2, 3, size=(queries, 4)).astype(np.float32)
    g = rng.integers(-2, 3, size=(gallery, 4)).astype(np.float32)
    g[gallery // 2] = g[0]
    got = chunked_topk(q, g, k, query_block=query_block, gallery_block=gallery_block)
    np.testing.assert_array_equal(got, _reference(q @ g.T, min(k, gallery)))
