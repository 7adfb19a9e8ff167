"""Text-query latency of two versions of `zhclip serve` side by side, on one synthetic 100k library (ViT-B-16,
random weights): each query goes to both servers, in alternating order, so both see the same moment of a
machine whose speed drifts by a quarter from minute to minute (separate runs of `search_http.py` cannot
resolve a 10 % change here). Reports each server's p50 and the median of the paired differences.

    git worktree add /tmp/before REV
    .venv/bin/python benchmarks/search_http_paired.py --before /tmp/before/src [--hide httptools uvloop]

--hide makes modules unimportable for the "before" server (a dependency the older version did not have).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_common import clustered_vectors, free_port, machine_pace, serve, synthetic_library, wait_idle  # noqa: E402
from search_http import CACHE, SHORT, StdlibClient, texts, vit_b16_checkpoint, warm_up  # noqa: E402


def hiding(modules: list[str], folder: Path) -> Path:
    """A folder that, first on PYTHONPATH, makes `modules` fail to import."""
    for name in modules:
        (folder / f"{name}.py").write_text(f'raise ImportError("{name} is hidden from this server")\n')
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the src folder of the other checkout")
    parser.add_argument("--hide", nargs="*", default=[], help="modules the before server may not import")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    import zhclip
    from zhclip.runtime.machine import describe_machine

    print(describe_machine())
    checkpoint = vit_b16_checkpoint()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        db = Path(tmp) / "library.db"
        synthetic_library(db, clustered_vectors(args.rows, 512, seed=0), zhclip.load(checkpoint, precision="fp32"))
        path = os.pathsep.join([str(hiding(args.hide, Path(tmp))), str(args.before.resolve())])
        envs = {"before": {**os.environ, "PYTHONPATH": path}, "after": dict(os.environ)}
        servers, ports = {}, {name: free_port() for name in envs}
        try:
            for name, env in envs.items():
                servers[name] = serve(db, checkpoint, ports[name], env=env)
                wait_idle(servers[name].pid)
            clients = {name: StdlibClient(port) for name, port in ports.items()}  # after both are up: no idle timeout
            print(machine_pace(), "(before)")
            for kind, queries in {"short (5 characters)": SHORT, "captions (20-35 tokens)": texts(120)}.items():
                report(kind, paired_latencies(clients, queries))
            print(machine_pace(), "(after)")
        finally:
            for proc in servers.values():
                proc.terminate()
                proc.wait(timeout=30)


def paired_latencies(clients: dict, queries: list[str]) -> dict[str, list[float]]:
    for client in clients.values():
        warm_up(client)
    times = {name: [] for name in clients}
    for i, text in enumerate(queries):
        for name in list(clients)[:: 1 if i % 2 else -1]:
            started = time.perf_counter()
            clients[name].get("/api/search", {"q": text, "top": 20})
            times[name].append(1000 * (time.perf_counter() - started))
    return times


def report(kind: str, times: dict[str, list[float]]) -> None:
    p50 = {name: statistics.median(t) for name, t in times.items()}
    paired = statistics.median(b - a for a, b in zip(times["after"], times["before"], strict=True))
    print(
        f"{len(times['after'])} {kind}: p50 before {p50['before']:.1f} ms, after {p50['after']:.1f} ms; "
        f"median paired difference (before - after) {paired:.2f} ms"
    )


if __name__ == "__main__":
    main()
