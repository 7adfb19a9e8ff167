#!/usr/bin/env python
"""Encoding speed of every precision/runtime on the full ViT-B-16 architecture, and of the 30 %-pruned model, each
beside its GEMM-bound limit on this machine (the roofline table of `zhclip bench encode`)
(not run in CI). Random weights: speed does not depend on them, and none can be downloaded here.
Every step is a `zhclip` command, printed as it runs; the fp32 PyTorch baseline runs in the same `bench`.

    python benchmarks/encode_speed.py [--arch ViT-B-16] [--rounds 2]

Results: OUT/*.json and OUT/encode_speed.md, copied to benchmarks/results/encode_speed.md
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def zhclip(*args: object) -> str:
    print("$ zhclip " + " ".join(map(str, args)), flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "zhclip", *map(str, args)], check=True, capture_output=True, text=True
    )
    print(result.stdout, flush=True)
    return f"$ zhclip {' '.join(map(str, args))}\n{result.stdout}"


def random_checkpoint(arch: str, out: Path) -> Path:
    from zhclip.models import random_model, save_cnclip

    network = random_model(arch, seed=0)
    return save_cnclip(network.state_dict(), network.config, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="ViT-B-16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("experiments/encode_speed"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.out / f"random-{args.arch}.pt"
    if not model.is_file():
        random_checkpoint(args.arch, model)
    log = [zhclip("bench", "encode", "--model", model, "--rounds", args.rounds, "--json", args.out / "all.json")]
    pruned = args.out / "pruned"
    if not pruned.is_dir():
        log.append(zhclip("compress", "prune", model, "--ratio", "0.3", "--out", pruned, "--calibration", "16"))
    log.append(
        zhclip(
            "bench",
            "encode",
            "--model",
            pruned / "model.pt",
            "--baseline",
            model,
            "--precision",
            "fp32,int8,onnx-int8",
            "--rounds",
            args.rounds,
            "--json",
            args.out / "pruned.json",
        )
    )
    (args.out / "encode_speed.md").write_text("```\n" + "\n".join(log) + "```\n")
    RESULTS.mkdir(exist_ok=True)
    shutil.copyfile(args.out / "encode_speed.md", RESULTS / "encode_speed.md")


if __name__ == "__main__":
    main()
