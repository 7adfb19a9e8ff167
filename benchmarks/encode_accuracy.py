#!/usr/bin/env python
"""Accuracy of every fast encoding path on the offline synthetic benchmark (not run in CI).

For a model trained on `zhclip data synth` data: mean recall (x100, both directions) of fp32 PyTorch,
bf16, int8, the ONNX exports (fp32, fp16, int8), OpenVINO (fp32, bf16 where the CPU has it, int8: the image
tower calibrated statically, the text tower's weights compressed), `--precision auto` and the 30 %-pruned model
after `--recover` distillation, each against fp32 and the bar of issue 5 (loss <= 0.5 pt bf16/fp16/ONNX/OpenVINO,
<= 1 pt int8 and auto, <= 2 pt pruned). Every step is a `zhclip` command, printed as it runs.

    python benchmarks/encode_accuracy.py --model runs/tiny/checkpoints/epoch_latest.pt --data datasets/synth

Results: OUT/encode_accuracy.md, copied to benchmarks/results/encode_accuracy.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BARS = {"fp32": 0.0, "bf16": 0.5, "fp16": 0.5, "onnx": 0.5, "int8": 1.0, "pruned": 2.0}
OPENVINO_BARS = {"fp32": "onnx", "bf16": "bf16", "int8": "int8"}
TOWERS = ("image", "text")  # mean-recall loss, points


def zhclip(*args: str) -> None:
    command = [sys.executable, "-m", "zhclip", *map(str, args)]
    print("$ zhclip " + " ".join(map(str, args)), flush=True)
    subprocess.run(command, check=True)


def mean_recalls(out: Path, split: str) -> tuple[float, float]:
    """(text->image, image->text) mean recall from the metrics files `zhclip eval retrieval` wrote."""
    files = (out / f"{split}_{direction}_metrics.json" for direction in ("t2i", "i2t"))
    t2i, i2t = (json.loads(f.read_text())["scoreJson"]["mean_recall"] for f in files)
    return t2i, i2t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model trained on the synthetic benchmark")
    parser.add_argument("--data", required=True, type=Path, help="that benchmark's dataset directory")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=Path("experiments/encode_accuracy"))
    parser.add_argument("--recover-steps", type=int, default=300)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_dir, pruned_dir = args.out / "onnx", args.out / "pruned"
    if not onnx_dir.is_dir():
        zhclip("export", "onnx", args.model, onnx_dir)
    if not pruned_dir.is_dir():
        zhclip(
            "compress",
            "prune",
            args.model,
            "--ratio",
            "0.3",
            "--out",
            pruned_dir,
            "--data",
            args.data,
            "--recover",
            "--recover-steps",
            args.recover_steps,
        )
    paths = [
        ("torch fp32", args.model, "fp32", "torch", "fp32"),
        ("torch bf16", args.model, "bf16", "torch", "bf16"),
        ("torch int8", args.model, "int8", "torch", "int8"),
        ("onnx fp32", onnx_dir, "fp32", "auto", "onnx"),
        ("onnx fp16", onnx_dir, "fp16", "auto", "fp16"),
        ("onnx int8", onnx_dir, "int8", "auto", "int8"),
        *((f"openvino {p}", args.model, p, "openvino", OPENVINO_BARS[p]) for p in openvino_precisions()),
        ("auto", args.model, "auto", "auto", "int8"),
        ("pruned 30% + recovered, fp32", pruned_dir / "model.pt", "fp32", "torch", "pruned"),
    ]
    rows = []
    for label, model, precision, runtime, bar in paths:
        out = args.out / "eval" / label.replace(" ", "_").replace("%", "").replace(",", "").replace("+", "")
        zhclip(
            "eval",
            "retrieval",
            "--model",
            model,
            "--precision",
            precision,
            "--runtime",
            runtime,
            "--data",
            args.data,
            "--split",
            args.split,
            "--device",
            "cpu",
            "--out",
            out,
        )
        rows.append((label, *mean_recalls(out, args.split), bar))
    write_table(rows, args, auto_choice(args.model))


def openvino_precisions() -> list[str]:
    """What OpenVINO runs on this CPU (none without it installed)."""
    from zhclip.runtime import openvino

    return openvino.cpu_precisions() if openvino.available() else []


def auto_choice(model: str) -> str:
    """The paths `--precision auto` runs for `model` on this machine (measured by the `auto` row's eval)."""
    import zhclip

    loaded = zhclip.load(model, device="cpu", precision="auto")
    return ", ".join(f"{tower} {loaded.paths[tower]}" for tower in TOWERS)


def write_table(rows: list[tuple[str, float, float, str]], args: argparse.Namespace, auto: str) -> None:
    from zhclip.runtime.machine import describe_machine

    base = (rows[0][1] + rows[0][2]) / 2
    lines = [
        f"Model: `{args.model}`; data: `{args.data}` split `{args.split}`. MR = mean of R@1/5/10 (x100).",
        f"{describe_machine().capitalize()}. `auto` chose: {auto}.",
        "",
        "| path | T→I MR | I→T MR | mean MR | loss vs fp32 (pt) | bar (pt) | within bar |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, t2i, i2t, bar in rows:
        loss = base - (t2i + i2t) / 2
        lines.append(
            f"| {label} | {t2i:.2f} | {i2t:.2f} | {(t2i + i2t) / 2:.2f} | {loss:+.2f} | {BARS[bar]:.1f} | "
            f"{'yes' if loss <= BARS[bar] else 'NO'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    (args.out / "encode_accuracy.md").write_text(text)
    RESULTS.mkdir(exist_ok=True)
    shutil.copyfile(args.out / "encode_accuracy.md", RESULTS / "encode_accuracy.md")


if __name__ == "__main__":
    main()
