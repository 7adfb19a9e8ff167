"""Concurrent clients on loopback against a real `zhclip serve` while rescans run: nothing fails, and the
library passes SQLite's integrity check afterwards. (The long run: 100k items, more clients, longer.)"""

from __future__ import annotations

import threading
import time

from benchmarks.reliability.library import fill_synthetic, integrity
from benchmarks.reliability.load import LoadResult, hammer, keep_rescanning, serving

from tests.search.media import photo

ITEMS = 10_000


def test_concurrent_queries_during_rescans(tmp_path, encoder):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "first.jpg", 1)
    fill_synthetic(db, encoder.identity, ITEMS, [lib])
    result = LoadResult()
    with serving(db, log=tmp_path / "serve.log") as host:
        stop = threading.Event()
        driver = threading.Thread(
            target=keep_rescanning,
            args=(host, lib, stop, time.monotonic() + 60, result),
            kwargs={"photos_per_round": 20},
        )
        driver.start()
        try:
            hammer(host, clients=8, seconds=5, max_requests=3000, file_ids=ITEMS, result=result)
        finally:
            stop.set()
            driver.join(90)
    summary = f"{result.sent} requests, p50 {result.percentile(50):.0f} ms, p99 {result.percentile(99):.0f} ms"
    assert result.sent >= 50 and result.failed == 0, f"{summary}; failures: {result.failures}"
    assert result.rescans >= 1, "a rescan ran during the load"
    assert integrity(db) == "ok"
