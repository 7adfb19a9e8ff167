import numpy as np
import pytest

from zhclip.search.index import VectorIndex


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _clustered(n, dim, clusters, seed):
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((clusters, dim)))
    return _unit(centres[rng.integers(0, clusters, n)] + 0.35 * _unit(rng.standard_normal((n, dim))))


def test_exact_search_with_int8_first_pass_matches_brute_force():
    vectors = _clustered(60_000, 64, 50, seed=0).astype(np.float16)
    index = VectorIndex(np.arange(len(vectors)), np.full(len(vectors), np.nan), vectors, approx_threshold=10**9)
    assert index.coarse is not None, "60k rows should use the int8 first pass"
    full = vectors.astype(np.float32)
    rng = np.random.default_rng(1)
    for q in _unit(rng.standard_normal((20, 64))):
        hits = index.search(q, 20)
        truth = np.argsort(-(full @ q), kind="stable")[:20]
        assert set(hits.rows.tolist()) == set(truth.tolist())
        np.testing.assert_allclose(hits.scores, np.sort(full @ q)[::-1][:20], atol=1e-5)


def test_filters_restrict_rows():
    vectors = _clustered(500, 16, 5, seed=2)
    index = VectorIndex(np.arange(500), np.full(500, np.nan), vectors)
    allowed = np.zeros(500, bool)
    allowed[::7] = True
    hits = index.search(vectors[3], 10, allowed)
    assert len(hits.rows) == 10 and allowed[hits.rows].all()


@pytest.mark.parametrize("n", [30_000])
def test_approximate_index_reaches_recall_target(n):
    vectors = _clustered(n, 32, 200, seed=3)
    index = VectorIndex(np.arange(n), np.full(n, np.nan), vectors, approx_threshold=10_000, target_recall=0.95)
    assert index.approximate and index.lists.nprobe < index.lists.nlist
    rng = np.random.default_rng(4)
    queries = _unit(vectors[rng.choice(n, 50)] + 0.3 * _unit(rng.standard_normal((50, 32))))
    found = [len(set(index.search(q, 20).rows) & set(index.search(q, 20, exact=True).rows)) / 20 for q in queries]
    assert np.mean(found) >= 0.95


def test_rows_of_content_and_empty_index():
    index = VectorIndex(np.array([7, 3, 7, 7]), np.array([0, np.nan, 2, 4], np.float32), _clustered(4, 8, 2, 5))
    assert sorted(index.rows_of(7).tolist()) == [0, 2, 3]
    assert index.rows_of(99).tolist() == []
    empty = VectorIndex(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros((0, 8), np.float32))
    assert len(empty.search(np.ones(8, np.float32), 5).rows) == 0
