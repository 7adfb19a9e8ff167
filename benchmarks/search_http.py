"""Text queries through the HTTP API of `zhclip serve` (ViT-B-16 architecture, random weights) on a
synthetic library: latency p50/p99 and the server's memory. Queries alternate between two keep-alive clients:
the standard library's http.client (little client-side work, as a browser's) and httpx (~1-2 ms of Python per
request on a 2-core machine, which the server's latency does not include but the p50 does).

    .venv/bin/python benchmarks/search_http.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_common import (  # noqa: E402
    clustered_vectors,
    free_port,
    machine_pace,
    ms,
    rss_mb,
    serve,
    synthetic_library,
    table,
    wait_idle,
)

CACHE = Path(tempfile.gettempdir()) / "zhclip-bench"


def vit_b16_checkpoint() -> Path:
    """Random ViT-B-16 weights as a Chinese-CLIP .pt (made once, cached in the temp folder)."""
    from zhclip.models import random_model, save_cnclip

    path = CACHE / "vit-b-16-random.pt"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        network = random_model("ViT-B-16", seed=0)
        save_cnclip(network.state_dict(), network.config, path)
    return path


# what people type: a few words (the captions of `texts` are whole sentences)
SHORT = [
    a + b
    for a in ("红色的", "蓝色的", "一只小", "两个大", "绿色的", "黄色的", "白色的", "黑色的")
    + ("紫色的", "灰色的", "一个圆", "三个小", "橙色的", "粉色的", "金色的", "银色的")
    for b in ("汽车", "小狗", "圆形", "方块", "花朵", "房子", "气球", "星星")
]


def texts(n: int) -> list[str]:
    from zhclip.data.synth import captions_for, sample_scene

    rng = np.random.default_rng(7)
    return [captions_for(sample_scene(rng), rng, 1)[0] for _ in range(n)]


class StdlibClient:
    """GET over one keep-alive http.client connection."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, params: dict) -> None:
        self.connection.request("GET", f"{path}?{urlencode(params)}")
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")


class HttpxClient:
    def __init__(self, port: int):
        import httpx

        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def get(self, path: str, params: dict) -> None:
        self.client.get(path, params=params).raise_for_status()


def warm_up(client) -> None:
    """A few captions first: the server's first queries of each input length prepare its shapes."""
    for text in texts(3):
        client.get("/api/search", {"q": text + "。", "top": 20})


def served_latency(vectors: np.ndarray, label: str, queries: int = 60) -> None:
    import httpx

    import zhclip

    checkpoint = vit_b16_checkpoint()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        db = Path(tmp) / "library.db"
        started = time.perf_counter()
        synthetic_library(db, vectors, zhclip.load(checkpoint, device="cpu", precision="fp32"))
        print(f"wrote a {len(vectors):,}-row library in {time.perf_counter() - started:.0f} s")
        port = free_port()
        started = time.perf_counter()
        proc = serve(db, checkpoint, port)
        try:
            up = time.perf_counter() - started
            settled = wait_idle(proc.pid)  # the image tower loads in the background after the text tower
            status = httpx.get(f"http://127.0.0.1:{port}/api/status").json()
            clients = {"http.client": StdlibClient(port), "httpx": HttpxClient(port)}
            for client in clients.values():
                warm_up(client)
            kinds = {"captions (20-35 tokens)": texts(2 * queries), "short (5 characters)": SHORT[: 2 * queries]}
            latencies = {(kind, name): [] for kind in kinds for name in clients}
            for kind, group in kinds.items():
                for i, text in enumerate(group):
                    name = list(clients)[i % 2]
                    start = time.perf_counter()
                    clients[name].get("/api/search", {"q": text, "top": 20})
                    latencies[kind, name].append(time.perf_counter() - start)
            rss, peak = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"zhclip serve on {len(vectors):,} vectors ({status['arch']}, approximate index: "
        f"{status['approximate_index']}); ready in {up:.0f} s, idle {settled:.0f} s later"
    )
    print(
        table(
            ["library", "text queries", "client", "p50 ms", "p99 ms", "server RSS MiB", "peak RSS MiB"],
            [
                [label, f"{len(t)} {kind}", name, f"{ms(t):.1f}", f"{ms(t, 99):.1f}", f"{rss:.0f}", f"{peak:.0f}"]
                for (kind, name), t in latencies.items()
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    label = f"{args.rows // 1_000_000}M" if args.rows >= 1_000_000 else f"{args.rows // 1000}k"
    from zhclip.runtime.machine import describe_machine

    print(describe_machine())
    print(machine_pace(), "(before)")
    served_latency(clustered_vectors(args.rows, 512, seed=0), label)
    print(machine_pace(), "(after)")


if __name__ == "__main__":
    main()
