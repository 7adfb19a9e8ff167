"""Vectors in a PostgreSQL library (search/pg): pgvector's IVFFlat and HNSW indexes against exact search, on
synthetic CLIP-like vectors (float16, unit length, in clusters), for three kinds of query: image-like (new points
of the clusters), text-like (far from every point, as a text vector is from images, but towards a cluster) and
unrelated directions (random unit vectors, as a random model's text tower gives). For each index and setting:
recall@20 against the exact top 20 (float32 over every stored vector), median and p99 query ms, build seconds.

    python benchmarks/pg_vectors.py [--rows 100000 1000000] [--hnsw-below 1000000] [--queries 100]

It starts a throw-away server (tests/search/pg/server.py's, maintenance_work_mem 2GB), a new database per size,
and stops it at the end. Writes benchmarks/results/machines/<kind>/pg_vectors.json (a table per size); times are
this machine's, same-run ratios only.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pgvector import HalfVector

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "search" / "pg"))
from results_json import save  # noqa: E402
from server import Server, server_bin  # noqa: E402

from zhclip.bench.results import table as results_table  # noqa: E402
from zhclip.search.location import PostgresUrl, library_location  # noqa: E402
from zhclip.search.pg.store import PgStore  # noqa: E402

K = 20
CLUSTERS = 2000
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 128
EF_SEARCH = [100, 200, 400, 1000]
PROBES = [10, 20, 40, 80, 160, 320]  # those below the index's lists
KINDS = ("image", "text", "unrelated")
HNSW = f"HNSW m {HNSW_M}, ef_construction {HNSW_EF_CONSTRUCTION}"
INDEX_ONLY = {"enable_seqscan": "off"}  # the index measured even where the planner would scan every row


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
    store.conn.execute("ANALYZE vectors")
    return np.concatenate(written)


def query_kinds(centers: np.ndarray, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    picks = centers[rng.integers(0, CLUSTERS, count)]
    return {
        "image": unit(picks + 0.6 * rng.normal(size=picks.shape)),
        "text": unit(picks + 1.8 * rng.normal(size=picks.shape)),
        "unrelated": unit(rng.normal(size=picks.shape)),
    }


def exact_top(matrix: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    """Each query's exact top K content ids (float32 scores over the float16 rows, a slice at a time)."""
    scores = np.concatenate(
        [matrix[s : s + 100_000].astype(np.float32) @ queries.T for s in range(0, len(matrix), 100_000)]
    )
    return [set(np.argpartition(-column, K)[:K] + 1) for column in scores.T]


@contextmanager
def settings(conn, values: dict[str, str]):
    """A transaction with pgvector's search settings set for it alone."""
    with conn.transaction():
        for name, value in values.items():
            conn.execute("SELECT set_config(%s, %s, true)", [name, value])
        yield


def measure(conn, queries: dict[str, np.ndarray], exact: dict[str, list[set[int]]], values: dict) -> dict:
    """recall@K by query kind, the query times of every kind together, and whether the plan used an index."""
    sql = "SELECT content_id FROM vectors ORDER BY vector <#> %s LIMIT %s"
    with settings(conn, values):
        plan = " ".join(r[0] for r in conn.execute(f"EXPLAIN {sql}", [HalfVector(queries["image"][0]), K]))
    recalls, times = {}, []
    for kind, rows in queries.items():
        found = []
        for query in rows:
            began = time.perf_counter()
            with settings(conn, values):
                found.append({c for (c,) in conn.execute(sql, [HalfVector(query.astype(np.float16)), K])})
            times.append(time.perf_counter() - began)
        recalls[kind] = float(np.mean([len(f & e) / K for f, e in zip(found, exact[kind], strict=True)]))
    return {"recall": recalls, "times": times, "index_used": "Index Scan" in plan}


def build(conn, sql: str) -> float:
    """Seconds to build the index of `sql`, the one before dropped."""
    conn.execute("DROP INDEX IF EXISTS vectors_hnsw")
    conn.execute("DROP INDEX IF EXISTS vectors_ivfflat")
    began = time.perf_counter()
    conn.execute(sql)
    return time.perf_counter() - began


def lists_grid(rows: int) -> list[int]:
    return sorted({max(1, rows // 1000), round(math.sqrt(rows))})


def run(url: PostgresUrl, rows: int, args) -> Iterator[dict]:
    """Every index and setting measured on a library of `rows` vectors (a new database), one row at a time."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(CLUSTERS, args.dim))
    store = PgStore(url)
    store.conn.autocommit = True
    began = time.perf_counter()
    matrix = fill(store, rows, args.dim, centers, rng)
    print(f"{rows} vectors of {args.dim} written in {time.perf_counter() - began:.1f} s", flush=True)
    queries = query_kinds(centers, args.queries, rng)
    exact = {kind: exact_top(matrix, vectors) for kind, vectors in queries.items()}
    del matrix
    few = {kind: vectors[: args.exact_queries] for kind, vectors in queries.items()}
    few_exact = {kind: tops[: args.exact_queries] for kind, tops in exact.items()}
    yield result("none (exact scan)", None, "", measure(store.conn, few, few_exact, {}))
    for lists in lists_grid(rows):
        sql = f"CREATE INDEX vectors_ivfflat ON vectors USING ivfflat (vector halfvec_ip_ops) WITH (lists = {lists})"
        seconds = build(store.conn, sql)
        for probes in [p for p in PROBES if p < lists]:
            values = {"ivfflat.probes": str(probes), "ivfflat.iterative_scan": "relaxed_order", **INDEX_ONLY}
            found = measure(store.conn, queries, exact, values)
            yield result(f"IVFFlat lists {lists}", seconds, f"probes {probes}", found)
    if rows < args.hnsw_below:
        sql = (
            "CREATE INDEX vectors_hnsw ON vectors USING hnsw (vector halfvec_ip_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        )
        seconds = build(store.conn, sql)
        for ef in EF_SEARCH:
            values = {"hnsw.ef_search": str(ef), "hnsw.iterative_scan": "relaxed_order", **INDEX_ONLY}
            found = measure(store.conn, queries, exact, values)
            yield result(HNSW, seconds, f"ef_search {ef}", found)
    store.close()


def result(index: str, build_s: float | None, setting: str, found: dict) -> dict:
    """One row of the results, printed as it comes."""
    row = {"index": index, "build_s": build_s, "setting": setting, **found}
    recalls = " ".join(f"{kind} {value:.3f}" for kind, value in row["recall"].items())
    print(
        f"{index} {setting}: recall@{K} {recalls}; p50 {ms(row['times']):.1f} ms, p99 {ms(row['times'], 99):.1f} ms; "
        f"index used: {row['index_used']}",
        flush=True,
    )
    return row


def ms(times: list[float], percentile: float = 50) -> float:
    return float(np.percentile(times, percentile)) * 1000


def size_table(rows: int, results: list[dict], args) -> dict:
    columns = ["index", "build s", "search setting", *(f"recall@{K} {kind}" for kind in KINDS)]
    columns += ["p50 ms", "p99 ms", "queries", "plan"]
    cells = [
        [
            r["index"],
            "–" if r["build_s"] is None else f"{r['build_s']:.0f}",
            r["setting"] or "–",
            *(f"{r['recall'][kind]:.3f}" for kind in KINDS),
            f"{ms(r['times']):.1f}",
            f"{ms(r['times'], 99):.1f}",
            f"{len(r['times'])}",
            "index scan" if r["index_used"] else "sequential scan",
        ]
        for r in results
    ]
    if not any(r["index"] == HNSW for r in results):  # skipped, or the run stopped before it
        cells.append([HNSW, "not measured", "–", *("–" for _ in KINDS), "–", "–", "0", "–"])
    title = f"{rows:,} rows: top {K} of {args.queries} queries of each kind (the exact scan: {args.exact_queries})"
    return results_table(title, columns, cells)


def write(by_size: dict[int, list[dict]], args) -> None:
    load = os.getloadavg()[0]
    sizes = ", ".join(f"{rows:,}" for rows in by_size)
    save(
        "pg_vectors",
        f"Approximate vector indexes in PostgreSQL (pgvector 0.8): IVFFlat and HNSW against exact, {sizes} rows of "
        f"{args.dim}-d vectors",
        [size_table(rows, results, args) for rows, results in by_size.items()],
        (),
        [
            f"recall@{K}: the share of each query's exact top {K} (float32 over every stored float16 vector) that "
            "the index returned, averaged over the queries. image: new points of the data's clusters; text: far "
            "from every point but towards a cluster; unrelated: random unit directions (as a random model's text "
            "tower gives, the hard case of benchmarks/pg_serve.py).",
            "Iterative scan (relaxed order) on for both indexes, as the library runs them, and sequential scans off "
            "so that the index is what is measured. p50/p99: every kind's queries together, each in its own "
            "transaction, through a Unix socket. build s: CREATE INDEX with maintenance_work_mem 2GB.",
            f"HNSW: measured below {args.hnsw_below:,} rows; 'not measured' where it was skipped or the run was "
            "stopped before it (its build at 1M rows took about 30 min on this machine in benchmarks/pg_serve.py's "
            "run).",
            f"Load average {load:.2f} when this was written, on {os.cpu_count()} cores shared with other work.",
        ],
        {
            str(rows): [{k: v for k, v in r.items() if k != "times"} | {"times_s": r["times"]} for r in results]
            for rows, results in by_size.items()
        },
    )


def throwaway_server() -> Server:
    """A server of its own (tests/search/pg/server.py's) with the memory an index build wants."""
    bindir = server_bin()
    if bindir is None:
        sys.exit("no PostgreSQL server programs here (run .ci/install-postgres)")
    server = Server(bindir)
    server.sql(["ALTER SYSTEM SET maintenance_work_mem = '2GB'", "SELECT pg_reload_conf()"])
    return server


def new_database(server: Server, name: str) -> PostgresUrl:
    server.sql([f"CREATE DATABASE {name}"])
    server.sql(["CREATE EXTENSION vector", "CREATE EXTENSION pg_trgm"], database=name)
    return library_location(server.url(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="library sizes")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=100, help="queries of each kind")
    parser.add_argument("--exact-queries", type=int, default=20, help="of those, timed on the exact scan")
    parser.add_argument("--hnsw-below", type=int, default=1_000_000, help="rows: HNSW measured below only")
    args = parser.parse_args()
    from zhclip.runtime.machine import describe_machine

    print(describe_machine(), f"load average {os.getloadavg()[0]:.2f}", flush=True)
    server = throwaway_server()
    try:
        by_size: dict[int, list[dict]] = {}
        for rows in args.rows:
            for row in run(new_database(server, f"vectors_{rows}"), rows, args):
                by_size.setdefault(rows, []).append(row)
                write(by_size, args)  # after each row: a run stopped midway leaves what it measured
    finally:
        server.stop()


if __name__ == "__main__":
    main()
