"""Several `zhclip index` processes on one PostgreSQL library, in the same run: the wall time and CPU time per file
of 1, 2 and 3 indexers started together on the same folder of generated JPEGs against one indexer on SQLite; what
claiming costs (the work queue's claim and finish, per file, alone); and three indexers of which one is killed with
SIGKILL while it holds claims: after its lease lapses the others take its files over, and the library then holds
every file exactly once (rows counted).

The model is the tiny architecture with random weights; on a machine of few cores the indexers share the same
CPUs, so more of them do not index faster: the point is what the claiming costs beside the work.

    python benchmarks/pg_indexers.py --db postgresql://USER@/DB?host=/socket/dir [--files 2000] [--indexers 1 2 3]

The database is emptied between the runs: give one made for this benchmark (empty at the start). Writes
benchmarks/results/machines/<kind>/pg_indexers.json; times are this machine's, same-run ratios only.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_serve import checkpoint  # noqa: E402
from results_json import save  # noqa: E402
from search_common import table  # noqa: E402
from search_http import CACHE  # noqa: E402

from zhclip.bench.results import table as results_table  # noqa: E402
from zhclip.search.location import PostgresUrl, library_location  # noqa: E402
from zhclip.search.pg.claims import WorkQueue  # noqa: E402
from zhclip.search.pg.store import PgStore  # noqa: E402
from zhclip.search.scan import ScannedFile  # noqa: E402

SQLITE_FIRST, SQLITE_LAST = "SQLite, 1 indexer (first)", "SQLite, 1 indexer (last)"
TINY_DIM = 64  # the tiny architecture's own projection
CLAIM_BATCH = 32
SUMMARY = re.compile(r": new (\d+), .* in ([\d.]+) s$", re.MULTILINE)  # `zhclip index`'s last line


def images(count: int, side: int) -> Path:
    """A folder of `count` rendered scenes as JPEGs of `side` pixels (made once, kept in the temp folder)."""
    from zhclip.data.synth.render import render_scene
    from zhclip.data.synth.scene import sample_scene

    folder = CACHE / f"pg_indexers-{count}x{side}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for i in range(count):
        scene = sample_scene(rng)
        path = folder / f"scene_{i:05d}.jpg"
        if not path.is_file():
            render_scene(scene, (side, side * 3 // 4), noise=0.03).save(path, quality=90)
    return folder


def index_command(folder: Path, db: Path | PostgresUrl, model: Path, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "zhclip", "index", str(folder), "--db", str(db), "--model", str(model)]
    return [*command, "--precision", "fp32", "--workers", "1", "--no-progress", *extra]


def wait_all(procs: list[subprocess.Popen]) -> dict:
    """Wait for every process: exit codes, when each ended (perf_counter) and the CPU seconds all used."""
    ended: dict[int, tuple[int, float]] = {}
    cpu = 0.0
    while len(ended) < len(procs):
        for i, proc in enumerate(procs):
            if i in ended:
                continue
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                ended[i] = (proc.returncode, time.perf_counter())
                cpu += usage.ru_utime + usage.ru_stime
        time.sleep(0.02)
    return {
        "codes": [ended[i][0] for i in range(len(procs))],
        "ends": [ended[i][1] for i in range(len(procs))],
        "cpu": cpu,
    }


def start_indexers(count: int, command: list[str], logs: Path) -> list[subprocess.Popen]:
    """`count` indexers started together, each writing its output to its own file in `logs`."""
    procs = []
    for _ in range(count):
        with (logs / f"indexer-{len(procs)}.log").open("w") as output:
            procs.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT))
    return procs


def summaries(ended: dict, logs: Path) -> dict:
    """What each indexer's last line says: the files it stored (new) and its indexing time (without its start-up);
    and the span from the first indexer's start of indexing to the last one's end, in seconds."""
    found = [SUMMARY.findall((logs / f"indexer-{i}.log").read_text()) for i in range(len(ended["codes"]))]
    stored = [int(lines[-1][0]) if lines else 0 for lines in found]
    starts = [end - float(lines[-1][1]) for end, lines in zip(ended["ends"], found, strict=True) if lines]
    return {"stored": stored, "indexing": max(ended["ends"]) - min(starts, default=float("nan"))}


def run_indexers(count: int, folder: Path, db: Path | PostgresUrl, model: Path, logs: Path) -> dict:
    """`count` indexers started together; wall s, CPU s, exit codes, files each stored, indexing span s."""
    started = time.perf_counter()
    ended = wait_all(start_indexers(count, index_command(folder, db, model), logs))
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": ended["cpu"], "codes": ended["codes"], **summaries(ended, logs)}


def held_by(store: PgStore, pid: int) -> int:
    """Files in the queue now held by the indexer process `pid` (holder names are host:pid:random)."""
    return store.conn.execute("SELECT count(*) FROM work WHERE holder LIKE %s", [f"%:{pid}:%"]).fetchone()[0]


def running(proc: subprocess.Popen) -> bool:
    """Whether `proc` has not exited (without reaping it: `wait_all` takes its CPU time later)."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def killed_run(folder: Path, url: PostgresUrl, model: Path, lease: float, logs: Path) -> dict:
    """Three indexers; the first is killed (SIGKILL) once it holds claims. Wall s from the start to the last exit."""
    store = PgStore(url)
    started = time.perf_counter()
    procs = start_indexers(3, index_command(folder, url, model, "--claim-lease", str(lease)), logs)
    victim = procs[0]
    held, deadline = 0, time.monotonic() + 600
    while held == 0 and running(victim) and time.monotonic() < deadline:
        held = held_by(store, victim.pid)
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.perf_counter() - started
    ended = wait_all(procs)
    store.close()
    wall = time.perf_counter() - started
    stored = summaries(ended, logs)["stored"]
    return {
        "wall": wall,
        "cpu": ended["cpu"],
        "codes": ended["codes"],
        "held": held,
        "killed_at": killed_at,
        "stored": stored,
    }


def rows_held(url: PostgresUrl) -> dict[str, int]:
    store = PgStore(url)
    try:
        files, paths = store.conn.execute("SELECT count(*), count(DISTINCT path) FROM files").fetchone()
        vectors = store.conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
        waiting = store.conn.execute("SELECT count(*) FROM work").fetchone()[0]
    finally:
        store.close()
    return {"files": files, "paths": paths, "vectors": vectors, "queued": waiting}


def empty(url: PostgresUrl) -> None:
    store = PgStore(url)
    try:
        with store.transaction():
            store.clear()
            store.conn.execute("TRUNCATE work")
    finally:
        store.close()


def claim_cost(url: PostgresUrl, count: int) -> float:
    """Seconds per file to queue, claim (in batches) and finish `count` files, the queue's work alone."""
    store = PgStore(url)
    queue = WorkQueue(store.conn)
    files = [ScannedFile(f"/claim-cost/{i:06d}.jpg", 1000, 1, "image") for i in range(count)]
    started = time.perf_counter()
    with store.transaction():
        queue.enqueue(files)
    while batch := queue.claim(CLAIM_BATCH):
        with store.transaction():
            queue.renew()
            queue.finish(f.path for f in batch)
    spent = time.perf_counter() - started
    store.close()
    return spent / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="postgresql://… of an empty database for this benchmark")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--side", type=int, default=1024, help="the images' width in pixels")
    parser.add_argument("--indexers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--lease", type=float, default=10, help="--claim-lease of the run with a kill, seconds")
    args = parser.parse_args()
    url = library_location(args.db)
    if not isinstance(url, PostgresUrl):
        sys.exit("--db must name a PostgreSQL database (postgresql://…)")
    if rows_held(url)["files"]:
        sys.exit(f"{url} already holds a library; give this benchmark an empty database (it is emptied)")
    from zhclip.runtime.machine import describe_machine

    print(describe_machine(), flush=True)
    model, folder = checkpoint(TINY_DIM), images(args.files, args.side)
    logs = CACHE / "pg_indexers-logs"
    print(f"{args.files} images of {args.side} px in {folder}; the indexers' output goes to {logs}", flush=True)
    report = measure(folder, url, model, logs, args)
    write(report, args)


def run_folder(logs: Path, name: str) -> Path:
    """The folder for one run's indexer logs (emptied)."""
    folder = logs / re.sub(r"\W+", "-", name).strip("-").lower()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.log"):
        old.unlink()
    return folder


def sqlite_run(folder: Path, model: Path, logs: Path) -> dict:
    """One indexer into a new SQLite library, with the rows it holds after."""
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        db = Path(tmp) / "library.db"
        run = run_indexers(1, folder, db, model, logs)
        with closing(sqlite3.connect(db)) as conn:
            run["files"] = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    return run


def measure(folder: Path, url: PostgresUrl, model: Path, logs: Path, args) -> dict:
    """The SQLite baseline runs first and last (the machine's pace drifts); the PostgreSQL runs between."""
    runs = {SQLITE_FIRST: sqlite_run(folder, model, run_folder(logs, SQLITE_FIRST))}
    for count in args.indexers:
        empty(url)
        name = f"PostgreSQL, {count} indexer{'s' if count > 1 else ''}"
        runs[name] = {**run_indexers(count, folder, url, model, run_folder(logs, name)), **rows_held(url)}
        print(f"{name}: {runs[name]}", flush=True)
    empty(url)
    killed = {**killed_run(folder, url, model, args.lease, run_folder(logs, "killed")), **rows_held(url)}
    print(f"3 indexers, one killed: {killed}", flush=True)
    empty(url)
    cost = claim_cost(url, 5000)
    empty(url)
    runs[SQLITE_LAST] = sqlite_run(folder, model, run_folder(logs, SQLITE_LAST))
    return {"runs": runs, "killed": killed, "claim_s_per_file": cost}


def write(report: dict, args) -> None:
    load = os.getloadavg()[0]
    runs, killed, files = report["runs"], report["killed"], args.files
    baseline = (runs[SQLITE_FIRST]["indexing"] + runs[SQLITE_LAST]["indexing"]) / 2
    run_rows = [
        [
            name,
            f"{run['wall']:.1f}",
            f"{run['indexing']:.1f}",
            f"{files / run['indexing']:.1f}",
            f"{baseline / run['indexing']:.2f}",
            f"{1000 * run['cpu'] / files:.0f}",
            " + ".join(map(str, run["stored"])),
            f"{run['files']}",
            " ".join(map(str, run["codes"])),
        ]
        for name, run in runs.items()
    ]
    run_columns = ["library, indexers", "wall s", "indexing s", "files/s", "vs SQLite", "CPU ms/file", "stored by each"]
    run_columns += ["rows", "exit codes"]
    once = killed["files"] == killed["paths"] == killed["vectors"] == files and killed["queued"] == 0
    kill_rows = [
        [
            f"{killed['held']} files held at {killed['killed_at']:.1f} s",
            f"{args.lease:.0f} s",
            f"{killed['wall']:.1f}",
            " + ".join(map(str, killed["stored"])),
            f"{killed['files']} / {killed['paths']} / {killed['vectors']} of {files}",
            f"{killed['queued']}",
            "yes" if once else "NO",
            " ".join(map(str, killed["codes"])),
        ]
    ]
    kill_columns = ["killed (SIGKILL)", "lease", "wall s", "stored by each", "file rows / paths / vectors", "queued"]
    kill_columns += ["each file once", "exit codes"]
    claim_ms = 1000 * report["claim_s_per_file"]
    index_ms = 1000 * runs["PostgreSQL, 1 indexer"]["indexing"] / files
    print(table(run_columns, run_rows))
    print(table(kill_columns, kill_rows))
    print(f"queue, claim and finish: {claim_ms:.2f} ms per file ({index_ms:.0f} ms per file indexed); load {load:.2f}")
    save(
        "pg_indexers",
        f"Several indexers on one PostgreSQL library: {files} JPEGs of {args.side} px, the tiny model",
        [
            results_table("Indexers started together on the same folder", run_columns, run_rows),
            results_table("Three indexers, one killed while it holds claims", kill_columns, kill_rows),
        ],
        notes=[
            f"The work queue alone (queue, claim in batches of {CLAIM_BATCH} with a lease renewal, finish): "
            f"{claim_ms:.2f} ms per file, against {index_ms:.0f} ms per file for one indexer on PostgreSQL "
            "(its indexing time).",
            "Wall s: from starting the indexers to the last exit (start-up and model load included); indexing s: "
            "from the first indexer's start of indexing (its end less its own indexing time, from its last line) "
            "to the last one's end, which files/s and the ratio use; the ratio is to the mean of the two SQLite "
            "runs (the first and the last of this run).",
            f"Every indexer decodes with one thread (`--workers 1`); this machine has {os.cpu_count()} cores, "
            "shared with the database server and other work: more indexers share the same CPUs.",
            f"Load average {load:.2f} at the end (other work on the machine included).",
        ],
        data=report,
    )


if __name__ == "__main__":
    main()
