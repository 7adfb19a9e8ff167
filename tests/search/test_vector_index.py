import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zhclip.search.vector_index import TARGET_RECALL, VectorIndex, recall, tuning_queries


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


def _coarse_index(vectors):
    index = VectorIndex(np.arange(len(vectors)), np.full(len(vectors), np.nan), vectors, approx_threshold=10**9)
    assert index.coarse is not None
    return index


def test_int8_first_pass_errors_bound_every_rows_score():
    """The per-query bound that decides which rows are rescored holds for every row and any unit query: random
    directions, one near a row, one with a single dominant element (the largest query step)."""
    rng = np.random.default_rng(10)
    vectors = _clustered(60_000, 64, 50, seed=9).astype(np.float16)
    exact_codes = rng.integers(-127, 128, (2_000, 64))
    exact_codes[:, 0] = 127
    vectors[:2_000] = exact_codes * 2.0**-10  # rows the int8 copy holds exactly: only the query's rounding is left
    coarse, full = _coarse_index(vectors).coarse, vectors.astype(np.float32)
    spike = _unit(np.r_[10.0, rng.standard_normal(63) * 0.01])
    for q in [*_unit(rng.standard_normal((10, 64))), _unit(full[0] + 0.01), spike, -spike]:
        errors = coarse.errors(q).numpy()
        gap = np.abs(coarse.approximate(q).numpy() - full @ q)
        assert (gap <= errors).all()
        assert errors.mean() < 0.05, "a bound this loose would rescore most rows"


def test_int8_first_pass_takes_fewer_query_steps_where_the_kernel_would_overflow(monkeypatch):
    """x86 before VNNI sums pairs of 8-bit products in 16 bits: with the query's full 255 steps those sums
    saturate, the probe sees it, and the pass uses 127 steps (whose sums fit)."""
    from zhclip.search import coarse

    exact = coarse._linear

    def saturating(q, packed, levels):
        if levels == 255:  # what a saturated pair sum does to the all-top-codes probe
            return exact(q, packed, levels).clamp(-0.5, 0.5)
        return exact(q, packed, levels)

    monkeypatch.setattr(coarse, "_linear", saturating)
    assert coarse._exact_levels(64) == 127
    monkeypatch.setattr(coarse, "_linear", lambda q, packed, levels: exact(q, packed, levels).clamp(-0.5, 0.5))
    assert coarse._exact_levels(64) is None
    vectors = _clustered(60_000, 64, 50, seed=3).astype(np.float16)
    index = VectorIndex(np.arange(len(vectors)), np.full(len(vectors), np.nan), vectors, approx_threshold=10**9)
    assert index.coarse is None, "no exact kernel: the search is exact over the float16 rows"
    q = _unit(np.random.default_rng(4).standard_normal(64))
    truth = np.argsort(-(vectors.astype(np.float32) @ q), kind="stable")[:20]
    assert set(index.search(q, 20).rows.tolist()) == set(truth.tolist())


def test_int8_first_pass_with_filters_is_exact_and_never_leaks_rows():
    vectors = _clustered(60_000, 64, 50, seed=5).astype(np.float16)
    index, full = _coarse_index(vectors), vectors.astype(np.float32)
    rng = np.random.default_rng(6)
    q = _unit(rng.standard_normal(64))
    for allowed_count in (5, 3_000):  # fewer allowed rows than k, and many
        allowed = np.zeros(len(vectors), bool)
        allowed[rng.choice(len(vectors), allowed_count, replace=False)] = True
        hits = index.search(q, 20, allowed)
        truth = np.flatnonzero(allowed)[np.argsort(-(full[allowed] @ q), kind="stable")[:20]]
        assert allowed[hits.rows].all() and set(hits.rows.tolist()) == set(truth.tolist())


def test_int8_first_pass_exact_when_thousands_of_rows_tie():
    """More rows inside the error window than the shortlist holds: the full comparison must take over."""
    vectors = _clustered(60_000, 64, 50, seed=7).astype(np.float16)
    vectors[:5_000] = vectors[0]  # 5,000 copies of one photo
    index, full = _coarse_index(vectors), vectors.astype(np.float32)
    q = full[0] + 0.01 * _unit(np.random.default_rng(8).standard_normal(64))
    hits = index.search(_unit(q), 20)
    np.testing.assert_allclose(hits.scores, np.sort(full @ _unit(q))[::-1][:20], atol=1e-5)


@pytest.fixture(scope="module")
def tied_coarse_index():
    vectors = _clustered(60_000, 64, 50, seed=11).astype(np.float16)
    vectors[:3_000] = vectors[0]  # ties inside the error window
    return _coarse_index(vectors)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.sampled_from([1, 5, 20, 100]),
    allowed_count=st.sampled_from([None, 3, 20, 5_000]),
    near_row=st.booleans(),
)
def test_int8_first_pass_candidates_are_the_rows_whose_bound_reaches_the_kth(
    tied_coarse_index, seed, k, allowed_count, near_row
):
    """The shortcut (bounds only for rows near the k-th approximate score) keeps exactly the rows of the
    definition: every row whose approximate score plus its bound reaches the k-th best lower bound."""
    rng = np.random.default_rng(seed)
    coarse = tied_coarse_index.coarse
    q = _unit(rng.standard_normal(64))
    if near_row:  # a query among the tied rows
        q = _unit(tied_coarse_index.matrix[0].astype(np.float32) + 0.05 * q)
    mask = None
    if allowed_count is not None:
        mask = np.zeros(len(tied_coarse_index), bool)
        mask[rng.choice(len(mask), allowed_count, replace=False)] = True
    approx = coarse.approximate(q)
    errors = coarse.errors(q)
    allowed_approx = approx if mask is None else approx.masked_fill(~torch.from_numpy(mask), -torch.inf)
    kth_lower = torch.topk(allowed_approx - errors, min(k, len(approx))).values[-1]
    expected = np.flatnonzero((allowed_approx + errors >= kth_lower).numpy())
    expected = expected if mask is None else expected[mask[expected]]
    np.testing.assert_array_equal(coarse.candidates(approx, q, k, mask), expected)


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


def _gap_library(n, dim=64, clusters=300, queries=432, seed=0):
    """Image rows in a cone around a common mean direction, and text queries about the same contents on the far
    side of it (a modality gap; top-1 cosine about 0.37, as for real CLIP models)."""
    rng = np.random.default_rng(seed)
    mean, centres = _unit(rng.standard_normal(dim)), _unit(rng.standard_normal((clusters, dim)))

    def contents(m):
        return _unit(centres[rng.integers(0, clusters, m)] + 0.5 * _unit(rng.standard_normal((m, dim))))

    images = _unit(contents(n) + 0.8 * mean)
    texts = _unit(contents(queries) - 0.4 * mean + 0.6 * _unit(rng.standard_normal((queries, dim))))
    return images, texts


def test_text_queries_across_a_modality_gap_reach_the_recall_target():
    images, texts = _gap_library(10_000)
    samples, held_out = texts[:32], texts[32:]
    index = VectorIndex(np.arange(len(images)), np.full(len(images), np.nan), images, approx_threshold=1_000)
    lists = index.lists
    truth = [set(index.search(q, 20, exact=True).rows.tolist()) for q in held_out]
    lists.tune_on(index, tuning_queries(index, None)[:1], TARGET_RECALL)  # the old tuning: noisy rows only
    assert recall(index, held_out, truth, 20) < 0.95, "the old tuning met the target: the test shows nothing"
    for query_samples in (None, samples):  # without text samples, and tuned on 32 real ones
        lists.tune(index, TARGET_RECALL, query_samples)
        assert recall(index, held_out, truth, 20) >= 0.95 and lists.nprobe < lists.nlist


def test_query_samples_reach_the_tuning_through_the_constructor():
    images, texts = _gap_library(3_000, seed=1)
    index = VectorIndex(
        np.arange(len(images)), np.full(len(images), np.nan), images, approx_threshold=1_000, query_samples=texts[:32]
    )
    families = tuning_queries(index, texts[:32])
    np.testing.assert_allclose(families[1], texts[:32], atol=1e-6)  # the samples themselves are one family
    chosen = index.lists.nprobe
    index.lists.tune_on(index, families, TARGET_RECALL)
    assert index.lists.nprobe == chosen


def test_single_query_index_builds_nothing_and_is_exact():
    """A one-query command skips the int8 copy and the lists (even above the approximate threshold)."""
    vectors = _clustered(60_000, 64, 50, seed=11).astype(np.float16)
    index = VectorIndex(
        np.arange(len(vectors)), np.full(len(vectors), np.nan), vectors, approx_threshold=10_000, single_query=True
    )
    assert index.coarse is None and index.lists is None
    full = vectors.astype(np.float32)
    q = _unit(np.random.default_rng(12).standard_normal(64))
    hits = index.search(q, 20)
    assert hits.rows.tolist() == np.argsort(-(full @ q), kind="stable")[:20].tolist()
    np.testing.assert_allclose(hits.scores, np.sort(full @ q)[::-1][:20], atol=1e-6)


@pytest.mark.parametrize(("rows", "approx_threshold"), [(5_000, 10**9), (60_000, 10**9), (60_000, 20_000)])
def test_the_search_scores_the_background_rows_on_every_path(rows, approx_threshold):
    """The automatic cut-off's background: the sample rows' scores, exact for a small index and for inverted
    lists, within the first pass's bound where the int8 pass scored every row."""
    vectors = _clustered(rows, 64, 50, seed=11).astype(np.float16 if rows > 10_000 else np.float32)
    index = VectorIndex(np.arange(rows), np.full(rows, np.nan), vectors, approx_threshold=approx_threshold)
    q = _unit(np.random.default_rng(12).standard_normal(64))
    sample = index.background_rows
    assert len(sample) == min(rows, 2_000) and (np.diff(sample) > 0).all()
    exact = vectors[sample].astype(np.float32) @ q
    first_pass = index.coarse is not None and index.lists is None
    bound = index.coarse.errors(q).numpy()[sample] if first_pass else 1e-5
    found = index.search(q, 20, background=True).background
    assert (np.abs(found - exact) <= bound).all()
    assert index.search(q, 20).background is None


def test_too_small_an_index_has_no_background():
    vectors = _clustered(30, 16, 3, seed=13)
    index = VectorIndex(np.arange(30), np.full(30, np.nan), vectors)
    assert index.background_rows is None and index.search(vectors[0], 5, background=True).background is None
