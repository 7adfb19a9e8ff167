"""Cold start and the server under load, on a library of 1920x1080 JPEGs indexed with the full ViT-B-16
architecture (random weights) at `--precision auto`:

- cold start: `zhclip --help`; `zhclip search TEXT` (wall and peak RSS); `zhclip serve` until its first text answer
- requests/s of text search, similar, thumbnails and file facts against the CPU bound (cores / CPU seconds per
  request, the server's own and with the load client's), the same with `zhclip index` adding photos meanwhile
  (failures counted), and a cached thumbnail's latency

    .venv/bin/python benchmarks/search_serve.py [--photos 200] [--extra 60] [--clients 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_common import free_port, ms, process_cpu, table, wait_idle  # noqa: E402
from search_http import CACHE, texts, vit_b16_checkpoint  # noqa: E402
from search_index import photos  # noqa: E402

LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def zhclip(*args: object) -> list[str]:
    return [sys.executable, "-m", "zhclip", *map(str, args)]


def peak_rss(command: list[str]) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of a command, spawned by a small launcher process: Linux counts in a child's peak RSS
    the memory of the process it was spawned from (kept across exec), which would otherwise be this benchmark's."""
    result = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-500:]}")
    wall, kib = result.stdout.splitlines()[-1].split()
    return float(wall), int(kib) / 1024


def build_library(folder: Path, db: Path, model: Path) -> float:
    started = time.perf_counter()
    subprocess.run(zhclip("index", folder, "--db", db, "--model", model, "--precision", "auto"), check=True)
    return time.perf_counter() - started


def index_one(photo: Path, tmp: Path, model: Path) -> list[str]:
    """The command that indexes one photo into a new library: its wall time is the time to the first batch."""
    folder = tmp / "one"
    folder.mkdir()
    shutil.copyfile(photo, folder / photo.name)
    return zhclip("index", folder, "--db", tmp / "one.db", "--model", model, "--precision", "auto")


def first_answer(db: Path, model: Path, port: int, *extra: object) -> tuple[subprocess.Popen, float, float]:
    """Start `zhclip serve`; (process, s to the first /api/status, s to the first text answer)."""
    started = time.perf_counter()
    command = zhclip("serve", "--db", db, "--model", model, "--port", port, *extra)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status_s = None
    while time.perf_counter() - started < 600:
        if proc.poll() is not None:
            raise RuntimeError(f"zhclip serve exited: {proc.stderr.read().decode()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if status_s is None:
                conn.request("GET", "/api/status")
                if conn.getresponse().status == 200:
                    status_s = time.perf_counter() - started
                continue
            conn.request("GET", "/api/search?q=%E7%BA%A2%E8%89%B2%E7%9A%84%E6%B1%BD%E8%BD%A6&top=20")
            if conn.getresponse().status == 200:
                return proc, status_s, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("zhclip serve did not answer")


def hammer(args: tuple[int, list[str], float]) -> dict:
    """One keep-alive client: GET the urls in turn until the deadline; counts, latencies and its CPU time."""
    port, urls, seconds = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    ok = failed = 0
    latencies = []
    cpu0, deadline, i = time.process_time(), time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            conn.request("GET", urls[i % len(urls)])
            response = conn.getresponse()
            response.read()
            good = response.status == 200
        except OSError:
            good = False
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies.append(time.perf_counter() - start)
        ok, failed, i = ok + good, failed + (not good), i + 1
    return {"ok": ok, "failed": failed, "latencies": latencies, "cpu": time.process_time() - cpu0}


def load_run(pool, pid: int, port: int, urls: list[str], clients: int, seconds: float) -> dict:
    cpu0, started = process_cpu(pid), time.perf_counter()
    parts = pool.map(hammer, [(port, urls[i::clients] or urls, seconds) for i in range(clients)])
    wall = time.perf_counter() - started
    done = sum(p["ok"] for p in parts)
    return {
        "rate": done / wall,
        "ok": done,
        "failed": sum(p["failed"] for p in parts),
        "server_cpu": (process_cpu(pid) - cpu0) / max(done, 1),
        "client_cpu": sum(p["cpu"] for p in parts) / max(done, 1),
        "latencies": [x for p in parts for x in p["latencies"]],
    }


def endpoints(n_files: int) -> dict[str, list[str]]:
    from urllib.parse import quote

    ids = range(1, n_files + 1)
    return {
        # distinct texts: each request encodes its query (a repeated one would come from the query cache)
        "text search": [f"/api/search?q={quote(f'{t} {i}')}&top=20" for i, t in enumerate(texts(100) * 50)],
        "similar": [f"/api/similar/{i}?top=20" for i in ids],
        "thumbnail (cached)": [f"/api/files/{i}/thumbnail?size=256" for i in ids],
        "file facts": [f"/api/files/{i}" for i in ids],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--extra", type=int, default=60, help="photos `zhclip index` adds during the load")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="server processes, one run each")
    args = parser.parse_args()
    from zhclip.runtime.machine import describe_machine

    print(describe_machine(), flush=True)
    cores = os.cpu_count()
    model = vit_b16_checkpoint()
    every = photos(args.photos + args.extra * len(args.processes))  # new photos for each run's indexing
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        library, later, db = Path(tmp) / "photos", Path(tmp) / "later", Path(tmp) / "library.db"
        library.mkdir()
        for i, path in enumerate(every):
            run = (i - args.photos) // args.extra
            folder = library if i < args.photos else later / str(args.processes[run])
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, folder / path.name)
        print(f"indexed {args.photos} photos in {build_library(library, db, model):.0f} s", flush=True)
        cold = [
            ["zhclip --help", *peak_rss(zhclip("--help"))],
            ["zhclip search TEXT --db LIB", *peak_rss(zhclip("search", "红色的汽车停在路边", "--db", db))],
            ["zhclip index (one photo, a new library)", *peak_rss(index_one(every[0], Path(tmp), model))],
        ]
        port = free_port()
        proc, status_s, answer_s = first_answer(db, model, port)
        cold.append(["zhclip serve: /api/status answered", status_s, None])
        cold.append(["zhclip serve: first text answer", answer_s, None])
        rows = [[what, f"{wall:.2f}", f"{rss:.0f}" if rss else ""] for what, wall, rss in cold]
        print(table(["cold start", "wall s", "peak RSS MiB"], rows), flush=True)
        for processes in args.processes:
            if processes > 1:
                if proc.poll() is None:  # the cold-start server (one process), when no one-process run used it
                    proc.terminate()
                    proc.wait(timeout=60)
                port = free_port()
                proc = first_answer(db, model, port, "--processes", processes)[0]
            try:
                print(f"zhclip serve --processes {processes}:")
                measure_load(proc.pid, port, endpoints(args.photos), args, cores, db, later / str(processes), model)
            finally:
                proc.terminate()
                proc.wait(timeout=60)


def measure_load(pid, port, urls, args, cores, db, later, model) -> None:
    ctx = get_context("fork")
    with ctx.Pool(args.clients) as pool:
        print(f"server idle {wait_idle(pid):.0f} s after its first answer (the image tower loads meanwhile)")
        for url in urls["thumbnail (cached)"]:  # warm the thumbnail cache
            hammer((port, [url], 0))
        rows = []
        for name, group in urls.items():
            alone = load_run(pool, pid, port, group, 1, args.seconds / 2)
            loaded = load_run(pool, pid, port, group, args.clients, args.seconds)
            bound = cores / alone["server_cpu"]
            bound_with_client = cores / (alone["server_cpu"] + alone["client_cpu"])
            rows.append(
                [
                    name,
                    f"{ms(alone['latencies']):.1f}",
                    f"{1000 * alone['server_cpu']:.2f}",
                    f"{bound:.0f}",
                    f"{bound_with_client:.0f}",
                    f"{loaded['rate']:.0f}",
                    f"{loaded['rate'] / bound:.0%}",
                    f"{loaded['rate'] / bound_with_client:.0%}",
                    f"{loaded['failed']}",
                ]
            )
        header = ["endpoint", "p50 ms (1 client)", "server CPU ms/req", "CPU bound req/s", "bound incl. client"]
        header += [f"req/s ({args.clients} clients)", "of bound", "of bound incl. client", "failed"]
        print(table(header, rows), flush=True)
        indexer = subprocess.Popen(zhclip("index", later, "--db", db, "--model", model, "--precision", "auto"))
        mixed = [u for group in urls.values() for u in group[:50]]
        during = load_run(pool, pid, port, mixed, args.clients, args.seconds)
        still_indexing = indexer.poll() is None
        indexer.wait()
        print(
            f"while `zhclip index` added {args.extra} photos (still running at the end: {still_indexing}): "
            f"{during['rate']:.0f} req/s mixed, p50 {ms(during['latencies']):.1f} ms, "
            f"p99 {ms(during['latencies'], 99):.1f} ms, {during['ok']} ok, {during['failed']} failed; index exit "
            f"{indexer.returncode}"
        )
        reload_s = wait_idle(pid)  # the server reloads the library after the indexer commits
        thumb = load_run(pool, pid, port, urls["thumbnail (cached)"][:1], 1, 2)
        latencies = thumb["latencies"]
        print(
            f"a cached thumbnail, one client ({reload_s:.0f} s after indexing, the server idle again): "
            f"p50 {ms(latencies):.2f} ms, p99 {ms(latencies, 99):.2f} ms"
        )


if __name__ == "__main__":
    main()
