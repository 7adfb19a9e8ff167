"""Vectors in a PostgreSQL library (search/pg): recall@20 of pgvector's HNSW index against exact search, and the
query time of each, on synthetic CLIP-like vectors (float16, unit length, in clusters): image-like queries
(new points of the clusters) and text-like ones (far from every point, as a text vector is from images).

    python -m benchmarks.pg_vectors --db postgresql://USER@/DB?host=/socket/dir [--rows 1000000] [--dim 512]

The database must be empty (a new one per run); times are this machine's, same-run ratios only."""

from __future__ import annotations

import argparse
import time

import numpy as np
from pgvector import HalfVector

from zhclip.search.location import library_location
from zhclip.search.pg.store import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, PgReader, PgStore

K = 20
CLUSTERS = 2000


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def fill(store: PgStore, rows: int, dim: int, centers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Write `rows` vectors (COPY, binary) and return them as float16."""
    store.conn.execute(
        "INSERT INTO contents(hash, kind) SELECT 'h' || g, 'image' FROM generate_series(1, %s) g", [rows]
    )
    store.type_vectors(dim)
    written = []
    with store.conn.cursor() as cursor:
        with cursor.copy("COPY vectors (content_id, vector) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "halfvec"])
            for start in range(0, rows, 50_000):
                count = min(50_000, rows - start)
                chunk = unit(centers[rng.integers(0, CLUSTERS, count)] + 0.6 * rng.normal(size=(count, dim)))
                chunk = chunk.astype(np.float16)
                written.append(chunk)
                for offset, vector in enumerate(chunk):
                    copy.write_row((start + offset + 1, HalfVector(vector)))
    return np.concatenate(written)


def timed_nearest(reader: PgReader, queries: np.ndarray, ef: int = HNSW_EF_SEARCH) -> tuple[list[list[int]], float]:
    found, times = [], []
    for query in queries:
        began = time.perf_counter()
        found.append([c for c, _, _ in reader.nearest(query, K, ef_search=ef)])
        times.append(time.perf_counter() - began)
    return found, float(np.median(times)) * 1000


def recall(found: list[list[int]], exact: list[list[int]]) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--m", type=int, default=HNSW_M)
    parser.add_argument("--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[100, 200, HNSW_EF_SEARCH, 800])
    args = parser.parse_args()
    url = library_location(args.db)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(CLUSTERS, args.dim))
    store = PgStore(url)
    began = time.perf_counter()
    matrix = fill(store, args.rows, args.dim, centers, rng).astype(np.float32)
    print(f"{args.rows} vectors of {args.dim} written in {time.perf_counter() - began:.1f} s")
    picks = centers[rng.integers(0, CLUSTERS, args.queries)]
    kinds = {
        "image": unit(picks + 0.6 * rng.normal(size=picks.shape)),
        "text": unit(picks + 1.8 * rng.normal(size=picks.shape)),
    }
    exact = {kind: [list(np.argsort(-(matrix @ q))[:K] + 1) for q in qs] for kind, qs in kinds.items()}
    reader = PgReader(url)
    for kind, queries in kinds.items():
        found, ms = timed_nearest(reader, queries.astype(np.float16))
        print(f"{kind} queries, exact scan: recall@{K} {recall(found, exact[kind]):.3f}, p50 {ms:.1f} ms")
    began = time.perf_counter()
    store.optimize(exact_limit=0, m=args.m, ef_construction=args.ef_construction)
    print(
        f"HNSW index (m {args.m}, ef_construction {args.ef_construction}) built in {time.perf_counter() - began:.1f} s"
    )
    for ef in args.ef_search:
        for kind, queries in kinds.items():
            found, ms = timed_nearest(reader, queries.astype(np.float16), ef)
            print(f"{kind} queries, HNSW ef_search {ef}: recall@{K} {recall(found, exact[kind]):.3f}, p50 {ms:.1f} ms")
    store.close()


if __name__ == "__main__":
    main()
