"""The int8 first pass's candidate selection (`coarse.Int8Rows.candidates`) against its definition, computed
directly (a bound for every row, the k-th best lower bound, every row whose upper bound reaches it), on a
100k x 512 clustered library with queries offset from the image clusters (text-like): both on the same
approximate scores, in alternating order, checked equal on every query.

    .venv/bin/python benchmarks/search_first_pass.py [--rows 100000] [--queries 300] [--k 21]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_common import clustered_vectors, queries_near  # noqa: E402


def by_definition(coarse, approx: torch.Tensor, q: np.ndarray, k: int) -> np.ndarray:
    errors = coarse.errors(q)
    kth_lower = torch.topk(approx - errors, k).values[-1]
    return torch.nonzero(approx + errors >= kth_lower).flatten().numpy()


def shortcut(coarse, approx: torch.Tensor, q: np.ndarray, k: int) -> np.ndarray:
    return coarse.candidates(approx, q, k, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=21)
    args = parser.parse_args()

    from zhclip.runtime.machine import describe_machine
    from zhclip.search.vector_index import VectorIndex

    print(describe_machine())
    vectors = clustered_vectors(args.rows, 512, seed=0).astype(np.float16)
    index = VectorIndex(np.arange(len(vectors)), np.full(len(vectors), np.nan), vectors, approx_threshold=10**9)
    coarse = index.coarse
    if coarse is None:
        sys.exit("this machine's PyTorch has no exact int8 kernel: the search has no first pass")
    times = {"definition": [], "candidates": []}
    sizes = []
    for i, q in enumerate(queries_near(vectors, args.queries, seed=1)):
        approx = coarse.approximate(q)
        runs = [("definition", by_definition), ("candidates", shortcut)]
        found = {}
        for name, run in runs if i % 2 else runs[::-1]:
            start = time.perf_counter()
            found[name] = run(coarse, approx, q, args.k)
            times[name].append(time.perf_counter() - start)
        if not np.array_equal(found["definition"], found["candidates"]):
            sys.exit(f"query {i}: the candidates differ from the definition")
        sizes.append(len(found["candidates"]))
    p50 = {name: 1000 * statistics.median(t) for name, t in times.items()}
    print(
        f"{args.rows:,} x 512 rows, k={args.k}, {args.queries} queries (same set on every one; median "
        f"{statistics.median(sizes):.0f} rows): definition p50 {p50['definition']:.3f} ms, candidates p50 "
        f"{p50['candidates']:.3f} ms ({p50['definition'] / p50['candidates']:.2f}x)"
    )


if __name__ == "__main__":
    main()
