"""Text queries through the HTTP API of `zhclip serve` (ViT-B-16 architecture, random weights) on a
synthetic library: latency p50/p99 and the server's memory.

    .venv/bin/python benchmarks/search_http.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_common import (  # noqa: E402
    clustered_vectors,
    free_port,
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
    for b in ("汽车", "小狗", "圆形", "方块", "花朵", "房子", "气球", "星星")
]


def texts(n: int) -> list[str]:
    from zhclip.data.synth import captions_for, sample_scene

    rng = np.random.default_rng(7)
    return [captions_for(sample_scene(rng), rng, 1)[0] for _ in range(n)]


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
            url = f"http://127.0.0.1:{port}/api/search"
            with httpx.Client(timeout=60) as client:
                status = client.get(f"http://127.0.0.1:{port}/api/status").json()
                for text in texts(3):
                    client.get(url, params={"q": text + "。", "top": 20}).raise_for_status()
                kinds = {"captions (20-35 tokens)": texts(queries), "short (5 characters)": SHORT[:queries]}
                latencies = {kind: [] for kind in kinds}
                for kind, group in kinds.items():
                    for text in group:
                        start = time.perf_counter()
                        client.get(url, params={"q": text, "top": 20}).raise_for_status()
                        latencies[kind].append(time.perf_counter() - start)
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
            ["library", "text queries", "p50 ms", "p99 ms", "server RSS MiB", "peak RSS MiB"],
            [
                [label, f"{len(times)} {kind}", f"{ms(times):.1f}", f"{ms(times, 99):.1f}", f"{rss:.0f}", f"{peak:.0f}"]
                for kind, times in latencies.items()
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
    served_latency(clustered_vectors(args.rows, 512, seed=0), label)


if __name__ == "__main__":
    main()
