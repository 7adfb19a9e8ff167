"""How long the encoder waits for decoding while `index_library` runs, on 1920x1080 JPEGs.

Each run indexes the same photos into a new library and reports the encoder's busy and idle seconds (idle:
blocked on a file still being decoded). `--queue old` reproduces the queue before the decode-ahead change
(at most 4 x workers files in flight, whatever the batch size) in the same run, for comparison.

    .venv/bin/python benchmarks/index_idle.py [--images 96] [--arch ViT-B-16|demo] [--workers 2] \
        [--batch-size 32] [--queue new old] [--processes]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_common import table  # noqa: E402
from search_http import CACHE, vit_b16_checkpoint  # noqa: E402
from search_index import photos  # noqa: E402


def checkpoint(arch: str) -> Path:
    if arch == "ViT-B-16":
        return vit_b16_checkpoint()
    from zhclip.search.demo import DEMO_MODEL

    return DEMO_MODEL


def run(paths: list[Path], source: Path, args: argparse.Namespace, queue: str) -> list[str]:
    import zhclip
    import zhclip.search.prefetch as prefetch
    from zhclip.search import IndexOptions, MediaEncoder, index_library

    real = prefetch.DecodeAhead.__init__

    def old_queue(self, *a, **kw):
        real(self, *a, **kw)
        self.files_ahead = 4 * self.workers

    if queue == "old":
        prefetch.DecodeAhead.__init__ = old_queue
    try:
        model = zhclip.load(source, device="cpu", precision=args.precision)
        options = IndexOptions(workers=args.workers, decode_processes=args.processes)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            summary = index_library(
                Path(tmp) / "lib.db", [paths[0].parent], MediaEncoder(model, args.batch_size), options
            )
    finally:
        prefetch.DecodeAhead.__init__ = real
    assert summary.new == len(paths) and not summary.failed, summary.line()
    return [
        f"{queue} ({'4 x workers files' if queue == 'old' else 'two batches'})",
        model.precision,
        f"{len(paths) / summary.seconds:.2f}",
        f"{summary.seconds:.1f}",
        f"{summary.encode_seconds:.1f}",
        f"{summary.idle_seconds:.2f}",
        f"{100 * summary.idle_seconds / summary.seconds:.1f} %",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--arch", choices=["ViT-B-16", "demo"], default="ViT-B-16")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--queue", nargs="+", choices=["new", "old"], default=["new", "old"])
    parser.add_argument("--processes", action="store_true", help="decode in worker processes (the CUDA default)")
    args = parser.parse_args()
    paths = photos(args.images)
    source = checkpoint(args.arch)
    rows = [run(paths, source, args, queue) for queue in args.queue]
    print(
        f"{len(paths)} JPEGs 1920x1080, {args.arch}, CPU ({os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}), batch {args.batch_size}, {args.workers} decode "
        f"{'processes' if args.processes else 'threads'}"
    )
    print(table(["queue", "precision", "images/s", "seconds", "encoding s", "encoder idle s", "idle share"], rows))


if __name__ == "__main__":
    main()
