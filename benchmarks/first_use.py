"""The first use of a never-seen model against its second (issue 29 item 3), for this tree and, in the same run,
an older one (`--before TREE`, e.g. a `git worktree` of the commit before the change), with the random ViT-B-16
at `--precision auto`:

- `zhclip index` of 10 1080p photos with an empty `ZHCLIP_CACHE_DIR`: wall time, the command's own peak RSS
  (`ru_maxrss` from `wait4` of a launcher that `posix_spawn`s it, so that no forked parent's pages count) and the
  peak of the sum of PSS over the command and all its descendants (sampled every 50 ms with psutil while the
  command runs: shared pages count once); then how long a preparation child left running takes after the
  command ends, and its peak RSS
- the same command again (the cache now warm)
- `zhclip serve` of that library with another empty cache: seconds to the first answered text query, and the
  server's RSS once idle after the prepared paths took over, against a server started on the warm cache

    .venv/bin/python benchmarks/first_use.py [--before /tmp/old] [--photos 10]

Writes benchmarks/results/first_use.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_common import free_port, table  # noqa: E402
from search_http import CACHE, vit_b16_checkpoint  # noqa: E402
from search_index import photos  # noqa: E402
from search_serve import LAUNCHER, first_answer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "first_use.json"
CHILD_MARK = "zhclip.runtime.child"  # the preparation child's command line
SETTLE_S = 600  # the longest wait for a preparation child or a server's switch


def zhclip(*args: object) -> list[str]:
    return [sys.executable, "-m", "zhclip", *map(str, args)]


def measured(command: list[str], env: dict) -> dict:
    """Wall s, the command's own peak RSS and the sampled peak over it and its descendants (MiB)."""
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tree_peak = 0
    root = psutil.Process(launcher.pid)
    while launcher.poll() is None:
        tree_peak = max(tree_peak, _tree_rss(root))
        time.sleep(0.05)
    out, err = launcher.communicate()
    if launcher.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {err[-1500:]}")
    wall, kib = out.splitlines()[-1].split()
    return {"wall_s": round(float(wall), 2), "peak_rss_mib": int(kib) // 1024, "tree_peak_pss_mib": tree_peak >> 20}


def _tree_rss(root: psutil.Process) -> int:
    """Proportional set size (PSS) summed over `root`'s descendants (the launcher itself left out): a page that
    forked decoding workers share with the command counts once in all, where a sum of RSS counts it in each."""
    total = 0
    try:
        for proc in root.children(recursive=True):
            try:
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def preparation_after(started: float, model: Path) -> dict | None:
    """Wait for a child preparing `model` still running (None when there is none): seconds it ran on after the
    command ended, and its sampled peak RSS from then on."""
    children = [p for p in psutil.process_iter(["cmdline"]) if _prepares(p.info["cmdline"] or [], model)]
    if not children:
        return None
    peak, deadline = 0, time.monotonic() + SETTLE_S
    while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in children):
        if time.monotonic() > deadline:
            raise RuntimeError("the preparation child did not finish")
        peak = max(peak, sum(_rss(p) for p in children))
        time.sleep(0.2)
    return {"ran_on_s": round(time.perf_counter() - started, 1), "peak_rss_mib": peak >> 20}


def _prepares(cmdline: list[str], model: Path) -> bool:
    return CHILD_MARK in " ".join(cmdline) and str(model) in cmdline


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def indexed_files(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM vectors").fetchone()[0]


def serve_first_answer(db: Path, model: Path, env: dict) -> dict:
    """`zhclip serve`: s to /api/status and to the first text answer; its RSS once idle after any switch."""
    os.environ.update(env)  # first_answer starts the server with this process's environment
    port = free_port()
    proc, status_s, answer_s = first_answer(db, model, port)
    try:
        preparation_after(time.perf_counter(), model)  # the server switches once its child is done
        rss = _settled_rss(psutil.Process(proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"status_s": round(status_s, 2), "first_text_answer_s": round(answer_s, 2), "idle_rss_mib": rss >> 20}


def _settled_rss(proc: psutil.Process) -> int:
    """The server's RSS once it is idle: two readings 2 s apart within 2 % (after loads and switches)."""
    deadline, last = time.monotonic() + SETTLE_S, proc.memory_info().rss
    while time.monotonic() < deadline:
        time.sleep(2)
        now = proc.memory_info().rss
        if abs(now - last) < 0.02 * last:
            return now
        last = now
    return last


def variant(tree: Path, model: Path, folder: Path, work: Path) -> dict:
    """Every measurement with the zhclip of `tree` (its `src` first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "ZHCLIP_CACHE_DIR": str(work / "cache")}
    env.pop("ZHCLIP_RUNTIMES", None)
    index = ["index", folder, "--model", model, "--precision", "auto", "--no-progress"]
    first = measured(zhclip(*index, "--db", work / "first.db"), env)
    first["preparation_after_the_command"] = preparation_after(time.perf_counter(), model)
    second = measured(zhclip(*index, "--db", work / "second.db"), env)
    serve_env = {**env, "ZHCLIP_CACHE_DIR": str(work / "serve-cache")}
    serve_first = serve_first_answer(work / "first.db", model, serve_env)
    serve_cached = serve_first_answer(work / "first.db", model, serve_env)
    indexed = {db: indexed_files(work / db) for db in ("first.db", "second.db")}
    return {
        "index_first": first,
        "index_second": second,
        "vectors_indexed": indexed,
        "serve_first": serve_first,
        "serve_cached": serve_cached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a source tree of the older code (e.g. a git worktree)")
    parser.add_argument("--photos", type=int, default=10)
    args = parser.parse_args()
    from zhclip.runtime.machine import describe_machine

    machine = describe_machine()
    print(machine, flush=True)
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    model = vit_b16_checkpoint()
    trees = {"after": ROOT, **({"before": args.before} if args.before else {})}
    results = {"machine": machine, "load_average_start": os.getloadavg(), "photos": args.photos, "runs": {}}
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for path in photos(args.photos):
            shutil.copyfile(path, folder / path.name)  # not a link: the indexer follows none
        for name, tree in trees.items():
            work = Path(tmp) / name
            work.mkdir()
            results["runs"][name] = variant(tree, model, folder, work)
            print(name, json.dumps(results["runs"][name]), flush=True)
    results["load_average_end"] = os.getloadavg()
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(report(results["runs"]))


def report(runs: dict) -> str:
    rows = []
    for name, r in runs.items():
        first, prep = r["index_first"], r["index_first"]["preparation_after_the_command"] or {}
        rows.append([f"{name}: index, first use", first["wall_s"], first["peak_rss_mib"], first["tree_peak_pss_mib"]])
        rows.append([f"{name}: preparation after it", prep.get("ran_on_s", ""), prep.get("peak_rss_mib", ""), ""])
        second = r["index_second"]
        rows.append([f"{name}: index, second", second["wall_s"], second["peak_rss_mib"], second["tree_peak_pss_mib"]])
        for which in ("serve_first", "serve_cached"):
            serve = r[which]
            rows.append([f"{name}: {which} (first text answer)", serve["first_text_answer_s"], serve["idle_rss_mib"]])
    rows = [row + [""] * (4 - len(row)) for row in rows]
    return table(["", "wall s", "peak (serve: idle) RSS MiB", "with children (PSS) MiB"], rows)


if __name__ == "__main__":
    main()
