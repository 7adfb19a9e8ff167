"""Load on loopback: a real `zhclip serve` process, many concurrent keep-alive clients, and a driver that
keeps a rescan running. Every loop is bounded by a request count and a deadline."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tests.search.media import photo

QUERIES = ("海边的日落", "一只猫", "红色的汽车", "雪山", "城市夜景", "孩子在公园里玩", "一碗面条", "视频")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(db: Path, *extra: str, log: Path | None = None, ready_timeout: float = 180) -> Iterator[str]:
    """`zhclip serve --db DB` on a free loopback port; yields its base URL and stops it afterwards."""
    port = free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "zhclip", "serve", "--db", str(db), "--port", str(port), "--precision", "fp32", *extra],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(port, process, ready_timeout)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()


def _wait_ready(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"zhclip serve exited with {process.returncode}")
        try:
            if request(f"127.0.0.1:{port}", "GET", "/api/status")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("zhclip serve did not come up")


def request(
    host: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body)."""
    conn = http.client.HTTPConnection(host, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ------------------------------------------------------------------ clients


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # the first few, for the report
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rescans: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, latency_ms: float, problem: str | None) -> None:
        with self.lock:
            self.sent += 1
            self.latencies_ms.append(latency_ms)
            if problem:
                self.failed += 1
                if len(self.failures) < 10:
                    self.failures.append(problem)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def query_path(rng: np.random.Generator, file_ids: int) -> str:
    """A request of the mix a page produces: mostly text searches (with filters now and then), similar,
    file facts and status."""
    roll = rng.random()
    if roll < 0.7:
        params = {"q": QUERIES[rng.integers(len(QUERIES))], "top": int(rng.choice([20, 40]))}
        if rng.random() < 0.2:
            params["kind"] = "video"
        if rng.random() < 0.1:
            params["path_contains"] = f"/{rng.integers(100):03d}/"
        return "/api/search?" + urllib.parse.urlencode(params)
    if roll < 0.85:
        return f"/api/similar/{rng.integers(1, file_ids + 1)}?top=20"
    if roll < 0.95:
        return f"/api/files/{rng.integers(1, file_ids + 1)}"
    return "/api/status"


def hammer(
    host: str,
    clients: int,
    seconds: float,
    max_requests: int,
    file_ids: int,
    seed: int = 0,
    result: LoadResult | None = None,
) -> LoadResult:
    """`clients` threads, each on its own keep-alive connection, until `seconds` pass or `max_requests`
    were sent. Anything but a 200 with a JSON body counts as failed."""
    result = result or LoadResult()
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=_client, args=(host, deadline, max_requests, file_ids, seed + i, result), name=f"load-{i}"
        )
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    result.seconds = time.monotonic() - started
    return result


def _client(host: str, deadline: float, max_requests: int, file_ids: int, seed: int, result: LoadResult) -> None:
    rng = np.random.default_rng(seed)
    conn = http.client.HTTPConnection(host, timeout=60)
    while time.monotonic() < deadline and result.sent < max_requests:
        path = query_path(rng, file_ids)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            ok = response.status == 200 and body[:1] == b"{"
            problem = None if ok else f"{response.status} {path} {body[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            problem = f"{type(exc).__name__}: {exc} on {path}"
            conn.close()
            conn = http.client.HTTPConnection(host, timeout=60)
        result.add((time.perf_counter() - t0) * 1000, problem)
    conn.close()


# ------------------------------------------------------------------ a rescan that keeps running


def keep_rescanning(
    host: str, folder: Path, stop: threading.Event, deadline: float, result: LoadResult, photos_per_round: int = 40
) -> None:
    """Add photos to a library folder and ask the server to rescan, again and again, until `stop`."""
    round_ = 0
    while not stop.is_set() and time.monotonic() < deadline:
        for i in range(photos_per_round):
            photo(folder / f"round{round_:03d}" / f"p{i:03d}.jpg", 500_000 + round_ * 1000 + i)
        status, body = request(host, "POST", "/api/rescan")
        if status != 202:
            result.add(0.0, f"rescan refused: {status} {body[:200]!r}")
        _wait_rescan(host, deadline)
        result.rescans += 1
        round_ += 1


def _wait_rescan(host: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        indexing = json.loads(request(host, "GET", "/api/status")[1])["indexing"]
        if not indexing.get("running"):
            return
        time.sleep(0.2)
