"""`zhclip serve` on a PostgreSQL library against the same library in SQLite, in the same run: HTTP text query
latency p50/p99 (warm, the servers asked in turn, each query a new text), each server's memory, and the requests/s
of one and of two PostgreSQL servers answering the same library at once.

The library: `--rows` synthetic unit vectors (clustered, of the model's `--dim`; one image each, the files do not
exist) written straight into SQLite through `Store.add_content` in one transaction, then copied into PostgreSQL
with `library copy`'s function (nothing encoded again) and its vector index built. The model: the tiny architecture
with random weights and a `--dim` projection, so that the text tower's cost stays small beside the search.
Both are kept in the temp folder (`zhclip-bench/`) and in the database for the next run of the same size.

    python benchmarks/pg_serve.py --db postgresql://USER@/DB?host=/socket/dir [--rows 1000000] [--queries 200]

The database must be empty or hold this benchmark's library of `--rows` rows from an earlier run. Writes
benchmarks/results/machines/<kind>/pg_serve.json; times are this machine's, same-run ratios only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402
from search_common import clustered_vectors, free_port, ms, rss_mb, synthetic_library, table, wait_idle  # noqa: E402
from search_http import CACHE, SHORT  # noqa: E402
from search_serve import hammer  # noqa: E402

from zhclip.bench.results import table as results_table  # noqa: E402
from zhclip.search.location import PostgresUrl, library_location  # noqa: E402

TOP = 20
SEARCHED_BY = {  # by /api/status's approximate_index
    "SQLite": {True: "the server's in-memory copy, faiss IVF", False: "the server's in-memory copy, exact"},
    "PostgreSQL": {True: "the database's IVFFlat index", False: "the database, exact scan"},
}


def checkpoint(dim: int) -> Path:
    """The tiny architecture with a `dim`-wide projection, random weights (made once, kept in the temp folder)."""
    from zhclip.models import random_model, save_cnclip
    from zhclip.models.config import arch_config

    path = CACHE / f"tiny-{dim}.pt"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        network = random_model(replace(arch_config("tiny"), embed_dim=dim), seed=0)
        save_cnclip(network.state_dict(), network.config, path)
    return path


def sqlite_library(rows: int, dim: int, model_path: Path) -> Path:
    """The SQLite library of `rows` vectors (written once, under a temporary name until complete)."""
    import zhclip

    path = CACHE / f"pg_serve-{rows}x{dim}.db"
    if path.is_file():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    vectors = clustered_vectors(rows, dim, seed=0)
    synthetic_library(partial, vectors, zhclip.load(model_path, device="cpu", precision="fp32"))
    partial.rename(path)
    print(f"wrote {rows:,} rows into SQLite in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def postgres_library(source: Path, url: PostgresUrl, rows: int) -> None:
    """The SQLite library copied into the database (unless it holds it from an earlier run): the copy builds the
    vector index; a database holding the library without it (an older copy) gets it built here."""
    from zhclip.search.pg.copy import copy_library
    from zhclip.search.pg.store import PgStore

    store = PgStore(url)
    try:
        held = store.conn.execute("SELECT count(*) FROM contents").fetchone()[0]
        if held not in (0, rows):
            sys.exit(f"{url} holds {held} contents, not this benchmark's {rows}: give it an empty database")
        if held == 0:
            started = time.perf_counter()
            copy_library(source, url)
            print(f"copied {rows:,} rows into PostgreSQL in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        if store.optimize():
            print(f"built the vector index in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        store.close()


def start_server(db: Path | PostgresUrl, model: Path, port: int) -> subprocess.Popen:
    """`zhclip serve`, returned once it has answered a text query and finished its start-up work."""
    command = [sys.executable, "-m", "zhclip", "serve", "--db", str(db), "--model", str(model), "--port", str(port)]
    command += ["--precision", "fp32"]  # the query vectors exact_top computes
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"zhclip serve --db {db} exited: {proc.stderr.read()[-2000:]}")
        try:
            get(http.client.HTTPConnection("127.0.0.1", port, timeout=600), text_query("红色的汽车"))
            wait_idle(proc.pid)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"zhclip serve --db {db} did not answer")


def text_query(text: str) -> str:
    return f"/api/search?q={quote(text)}&top={TOP}"


def get(connection: http.client.HTTPConnection, url: str) -> tuple[float, bytes]:
    """GET `url`; its latency in seconds and the body (an HTTP error is raised)."""
    started = time.perf_counter()
    connection.request("GET", url)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response.status}")
    return time.perf_counter() - started, body


def status(port: int) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", "/api/status")
    return json.loads(connection.getresponse().read())


def query_texts(count: int, first: int = 0) -> list[str]:
    """Distinct short texts: no answer comes from the server's query cache."""
    return [f"{SHORT[i % len(SHORT)]} {i}" for i in range(first, first + count)]


def latencies(ports: dict[str, int], texts: list[str]) -> tuple[dict[str, list[float]], dict[str, list[set]]]:
    """Each server asked the same texts, the servers in turn (which goes first alternates): the latencies and the
    paths found, by server."""
    connections = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=600) for name, port in ports.items()}
    for connection in connections.values():  # warm: the first query of each length prepares its shapes
        for text in SHORT[:8]:
            get(connection, text_query(text))
    times: dict[str, list[float]] = {name: [] for name in ports}
    found: dict[str, list[set]] = {name: [] for name in ports}
    for i, text in enumerate(texts):
        for name in list(ports) if i % 2 == 0 else list(ports)[::-1]:
            seconds, body = get(connections[name], text_query(text))
            times[name].append(seconds)
            found[name].append({r["path"] for r in json.loads(body)["results"]})
    return times, found


def exact_top(texts: list[str], model_path: Path, rows: int, dim: int) -> list[set]:
    """The paths of each text's exact top rows (float32 over the library's vectors, the model at fp32 as the
    servers run it)."""
    import zhclip

    queries = zhclip.load(model_path, device="cpu", precision="fp32").encode_texts(texts).astype(np.float32)
    vectors = clustered_vectors(rows, dim, seed=0)  # the library's, made again from the same seed
    best = np.empty((len(texts), 0), np.int64)
    best_scores = np.empty((len(texts), 0), np.float32)
    for start in range(0, rows, 100_000):
        scores = queries @ vectors[start : start + 100_000].astype(np.float32).T
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best = np.concatenate([best, np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :TOP]
        best, best_scores = np.take_along_axis(best, keep, 1), np.take_along_axis(best_scores, keep, 1)
    return [{library_path(i) for i in row} for row in best]


def library_path(row: int) -> str:
    """The path search_common.synthetic_library gives row `row`."""
    return f"/library/photo_{row:07d}.jpg"


def recall(found: list[set], exact: list[set]) -> float:
    return float(np.mean([len(f & e) / len(e) for f, e in zip(found, exact, strict=True)]))


def throughput(ports: list[int], clients: int, seconds: float) -> dict:
    """Requests/s of `clients` keep-alive clients for `seconds`, spread over the servers at `ports`."""
    urls = [text_query(text) for text in query_texts(10_000, first=10_000)]
    work = [(ports[i % len(ports)], urls[i::clients], seconds) for i in range(clients)]
    started = time.perf_counter()
    with get_context("fork").Pool(clients) as pool:
        parts = pool.map(hammer, work)
    wall = time.perf_counter() - started
    done = sum(p["ok"] for p in parts)
    every = [x for p in parts for x in p["latencies"]]
    return {"wall": wall, "ok": done, "failed": sum(p["failed"] for p in parts), "latencies": every}


def alternating(setups: dict[str, list[int]], clients: int, seconds: float, rounds: int = 4) -> dict[str, dict]:
    """`throughput` of each setup (its servers' ports) in turn, `rounds` times, `seconds` in all each: the
    machine's pace drifts, and each setup gets its share of every stretch of it."""
    runs = {name: [] for name in setups}
    for _ in range(rounds):
        for name, ports in setups.items():
            runs[name].append(throughput(ports, clients, seconds / rounds))
    return {
        name: {
            "rate": sum(r["ok"] for r in parts) / sum(r["wall"] for r in parts),
            "failed": sum(r["failed"] for r in parts),
            "latencies": [x for r in parts for x in r["latencies"]],
        }
        for name, parts in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="postgresql://… of a database for this benchmark")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200, help="text queries to each server")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    url = library_location(args.db)
    if not isinstance(url, PostgresUrl):
        sys.exit("--db must name a PostgreSQL database (postgresql://…)")
    from zhclip.runtime.machine import describe_machine

    print(describe_machine(), flush=True)
    model = checkpoint(args.dim)
    db = sqlite_library(args.rows, args.dim, model)
    postgres_library(db, url, args.rows)
    servers = {"SQLite": db, "PostgreSQL": url, "PostgreSQL, a second server": url}
    procs, ports = {}, {}
    try:
        for name, library in servers.items():
            ports[name] = free_port()
            procs[name] = start_server(library, model, ports[name])
        print(f"load average {os.getloadavg()[0]:.2f} as the servers are up", flush=True)
        report = measure(procs, ports, args)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=60)
    exact = exact_top(query_texts(args.queries), model, args.rows, args.dim)
    report["recall"] = {name: recall(found, exact) for name, found in report.pop("found").items()}
    write(report, args)


def measure(procs: dict, ports: dict, args) -> dict:
    one = {name: ports[name] for name in ("SQLite", "PostgreSQL")}
    times, found = latencies(one, query_texts(args.queries))
    memory = {name: rss_mb(proc.pid)[0] for name, proc in procs.items()}
    approximate = {name: status(port)["approximate_index"] for name, port in one.items()}
    both = [ports["PostgreSQL"], ports["PostgreSQL, a second server"]]
    rates = alternating({"one server": both[:1], "two servers": both}, args.clients, args.seconds)
    return {
        "latencies": times,
        "found": found,
        "memory": memory,
        "approximate": approximate,
        **rates,
    }


def write(report: dict, args) -> None:
    load = os.getloadavg()[0]
    label = f"{args.rows:,} rows of {args.dim}-d vectors"
    times, memory, approximate, recalls = (report[key] for key in ("latencies", "memory", "approximate", "recall"))
    query_rows = [
        [
            name,
            f"{len(t)}",
            f"{ms(t):.1f}",
            f"{ms(t, 99):.1f}",
            f"{recalls[name]:.3f}",
            f"{memory[name]:.0f}",
            SEARCHED_BY[name][approximate[name]],
        ]
        for name, t in times.items()
    ]
    query_columns = ["library", "text queries", "p50 ms", "p99 ms", f"recall@{TOP}", "server RSS MiB"]
    query_columns.append("vectors searched by")
    rate_rows = [
        [name, f"{r['rate']:.1f}", f"{ms(r['latencies']):.1f}", f"{ms(r['latencies'], 99):.1f}", f"{r['failed']}"]
        for name, r in (("one server", report["one server"]), ("two servers", report["two servers"]))
    ]
    rate_columns = ["PostgreSQL library served by", "req/s", "p50 ms", "p99 ms", "failed"]
    ratio = report["two servers"]["rate"] / report["one server"]["rate"]
    print(table(query_columns, query_rows))
    print(table(rate_columns, rate_rows))
    print(f"two servers / one: {ratio:.2f}x; load average {load:.2f}")
    save(
        "pg_serve",
        f"A shared library: `zhclip serve` on PostgreSQL and SQLite, {label}",
        [
            results_table(
                f"HTTP text queries (top {TOP}), warm, the two servers asked in turn", query_columns, query_rows
            ),
            results_table(
                f"{args.clients} clients, {args.seconds:.0f} s for each setup in four turns", rate_columns, rate_rows
            ),
        ],
        (),
        [
            f"recall@{TOP}: the share of each query's exact top {TOP} (float32 over every vector, the query encoded "
            "at fp32 as the servers ran) that the server returned, averaged over the queries. A random model's "
            "text vectors lie about equally far from every row of this library, so these queries are a hard case "
            "for an approximate index; `benchmarks/pg_vectors.py` measures recall on queries near the data and "
            "unrelated to it.",
            f"Two servers on one PostgreSQL library answered {ratio:.2f}x the requests/s of one, on this machine's "
            f"{os.cpu_count()} cores shared with the database and the clients.",
            "From 100 000 vectors a PostgreSQL library holds pgvector's IVFFlat index (a list per 1000 vectors, 320 "
            "probes), which `zhclip index` and `library copy` build.",
            f"Load average {load:.2f} at the end (other work on the machine included).",
        ],
        {"latencies_s": times, "recall": recalls, "rss_mib": memory, "two_over_one": ratio},
    )


if __name__ == "__main__":
    main()
