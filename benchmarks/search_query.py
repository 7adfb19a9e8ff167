"""Query speed on 1M x 512 vectors, one query at a time: exact top-20 (zhclip vs plain numpy fp32 and torch
bf16, all in this run), approximate top-20 with its recall against exact, and the server's memory.

    .venv/bin/python benchmarks/search_query.py [--rows 1000000] [--server]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402
from search_common import clustered_vectors, ms, queries_near, table  # noqa: E402

from zhclip.bench import results  # noqa: E402
from zhclip.runtime.machine import describe_machine  # noqa: E402
from zhclip.search.vector_index import VectorIndex, recall  # noqa: E402

K = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--server", action="store_true", help="also serve the library and measure RSS")
    args = parser.parse_args()
    torch.set_num_threads(2)
    vectors = clustered_vectors(args.rows, args.dim, seed=0)
    vectors.setflags(write=False)  # the index then reorders a copy; the check below needs the original order
    queries = queries_near(vectors, args.queries, seed=1)
    rows = [baseline_numpy(vectors, queries), baseline_torch_bf16(vectors, queries)]
    started = time.perf_counter()
    index = VectorIndex(np.arange(args.rows), np.full(args.rows, np.nan, np.float32), vectors, approx_threshold=1)
    build = time.perf_counter() - started
    exact = [index.search(q, K, exact=True) for q in queries]
    rows.append(
        [
            "zhclip exact (int8 pass + exact rescoring)",
            f"{ms(timed_each(lambda q: index.search(q, K, exact=True), queries)):.1f}",
            "1.000",
        ]
    )
    found = recall(index, queries, [set(e.rows.tolist()) for e in exact], K)
    rows.append(
        [
            f"zhclip approximate (IVF {index.lists.nlist} lists, nprobe {index.lists.nprobe})",
            f"{ms(timed_each(lambda q: index.search(q, K), queries)):.1f}",
            f"{found:.3f}",
        ]
    )
    check_exact(vectors, queries[:5], [index.content_ids[e.rows] for e in exact[:5]])
    print(describe_machine())
    setup = (
        f"{args.rows:,} x {args.dim} float16 vectors (clustered), {args.queries} queries, top-{K}, "
        f"torch threads {torch.get_num_threads()}; index build {build:.1f} s"
    )
    print(setup)
    columns = ["method", "p50 ms", "recall@20 vs exact"]
    print(table(columns, rows))
    baseline = min(rows[:2], key=lambda r: float(r[1]))
    speedup = f"{float(baseline[1]) / float(rows[2][1]):.2f}x"
    print(f"exact speed-up vs the faster baseline: {speedup}")
    save(
        "search-query",
        f"Query speed: exact and approximate top-{K} over {args.rows:,} vectors",
        [results.table(setup, columns, rows)],
        [
            results.headline(
                f"exact top-{K} of {args.rows:,} x {args.dim} vectors, one query, p50",
                f"{baseline[0]}: {baseline[1]} ms",
                f"{rows[2][1]} ms ({speedup})",
            ),
        ],
    )
    if args.server:
        del index
        gc.collect()
        from search_http import served_latency

        served_latency(vectors, "1M")


def timed_each(fn, queries) -> list[float]:
    fn(queries[0])  # warm-up
    out = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - start)
    return out


def baseline_numpy(vectors: np.ndarray, queries: np.ndarray) -> list:
    """What MaterialSearch does: a float32 matrix, matrix-vector product, partial sort."""
    matrix = vectors.astype(np.float32)

    def run(q):
        scores = matrix @ q
        top = np.argpartition(scores, -K)[-K:]
        return top[np.argsort(-scores[top])]

    result = ["numpy fp32 matmul + argpartition", f"{ms(timed_each(run, queries)):.1f}", "1.000"]
    return result


def baseline_torch_bf16(vectors: np.ndarray, queries: np.ndarray) -> list:
    matrix = torch.from_numpy(vectors).bfloat16()
    result = [
        "torch bf16 matmul + topk",
        f"{ms(timed_each(lambda q: torch.topk(matrix @ torch.from_numpy(q).bfloat16(), K), queries)):.1f}",
        "~1 (bf16 rounding)",
    ]
    return result


def check_exact(vectors: np.ndarray, queries: np.ndarray, found: list[np.ndarray]) -> None:
    """zhclip's exact top-20 (original row ids) must be the float32 brute-force top-20 of the stored vectors."""
    for q, ids in zip(queries, found, strict=True):
        scores = np.concatenate(
            [vectors[i : i + 100_000].astype(np.float32) @ q for i in range(0, len(vectors), 100_000)]
        )
        kth = np.sort(scores)[-K]
        assert np.all(scores[ids] >= kth - 1e-6), "exact search missed a top-20 row"


if __name__ == "__main__":
    main()
