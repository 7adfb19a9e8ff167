"""Helpers shared by the search benchmarks: synthetic vectors and libraries, a served library, tables."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from zhclip.media import MediaInfo
from zhclip.search import LibraryMeta, Store, model_identity
from zhclip.search.scan import ScannedFile

CHUNK = 100_000


def clustered_vectors(n: int, dim: int, seed: int, clusters: int = 2000, spread: float = 0.8) -> np.ndarray:
    """Unit float16 vectors around `clusters` centres — photo libraries are clustered, not uniform."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float16)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        noise = rng.standard_normal((m, dim)).astype(np.float32)
        block = centres[rng.integers(0, clusters, m)] + spread * noise / np.linalg.norm(noise, axis=1, keepdims=True)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def queries_near(vectors: np.ndarray, n: int, seed: int, noise: float = 0.8) -> np.ndarray:
    """Query vectors near library rows (like a text query near the photos it describes)."""
    rng = np.random.default_rng(seed)
    base = vectors[rng.choice(len(vectors), n, replace=False)].astype(np.float32)
    q = base + noise * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(base.shape[1])
    # float32, not float64: np.sqrt's float64 scalar would promote q, and numpy would then convert the whole
    # library matrix to float64 on every query (a 15x slower baseline).
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def synthetic_library(db: Path, vectors: np.ndarray, model) -> None:
    """A library whose rows are `vectors` (one image each; the files do not exist on disk)."""
    store = Store(db)
    info = MediaInfo(640, 480)
    with store.transaction():
        store.set_meta(LibraryMeta(model_identity(model)))
        for i, vector in enumerate(vectors):
            content = store.add_content(f"{i:032x}", "image", info, [None], vector[None])
            store.put_file(ScannedFile(f"/library/photo_{i:07d}.jpg", 1000, 1, "image"), content)
        store.bump_generation()
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: Path, model: Path, port: int, timeout: float = 1200, env: dict | None = None) -> subprocess.Popen:
    """`zhclip serve` in a subprocess, returned once its index is loaded (first /api/status answered)."""
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "zhclip", "serve", "--db", str(db), "--model", str(model), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"zhclip serve exited: {proc.stderr.read()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=timeout).raise_for_status()
            return proc
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("zhclip serve did not come up")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and the processes it started (server workers) have used."""
    import os

    def stat(p: str) -> list[str]:
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(stat(entry.name)[1]), []).append(int(entry.name))
            except OSError:
                continue
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = stat(str(current))
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        todo += children.get(current, [])
    return total


def wait_idle(pid: int, timeout: float = 300) -> float:
    """Wait until a server has finished its start-up work (a background model load): under 5 % of a core
    used over one second. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = process_cpu(pid)
        time.sleep(1.0)
        if process_cpu(pid) - before < 0.05:
            break
    return time.monotonic() - started


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def machine_pace() -> str:
    """How fast this (virtual) machine runs right now: its speed drifts by a quarter from minute to minute, so
    latencies taken at different times compare only with this beside them."""
    array = np.ones(50_000_000, np.float32)  # 200 MB: past any cache
    reads = []
    for _ in range(5):
        started = time.perf_counter()
        array.sum()
        reads.append(time.perf_counter() - started)
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    loop = time.perf_counter() - started
    read = array.nbytes / min(reads) / 1e9
    return f"machine pace: memory read {read:.1f} GB/s (one core), a 2M-step python loop {loop * 1e3:.0f} ms"


def ms(seconds: list[float], q: float = 50) -> float:
    return float(np.percentile(seconds, q) * 1000)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
