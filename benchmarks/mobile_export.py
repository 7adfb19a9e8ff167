#!/usr/bin/env python
"""Mobile exports on this CPU: per target (ExecuTorch, MNN, Core ML) and precision, each tower's file size, its
cosine to fp32 PyTorch measured at export, and its latency per batch size run through the reference programs'
loaders (examples/*_encode.py), beside PyTorch fp32 timed in the same run. This CPU stands in for a phone's or a
board's cores: the ratios between rows carry over better than the milliseconds. Core ML is converted and
spec-checked only (prediction needs macOS).

    python benchmarks/mobile_export.py [--model demo|ViT-B-16|PATH] [--batches 1,8] [--repeats 5]

Results: benchmarks/results/machines/<machine kind>/mobile_export.json (`python -m benchmarks.render_results`
renders it into the results page and docs/deployment.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

from zhclip.bench import results  # noqa: E402
from zhclip.models import random_model, save_cnclip  # noqa: E402
from zhclip.models.factory import build_network, read_weights  # noqa: E402
from zhclip.runtime.export import ExportOptions, export_mobile  # noqa: E402
from zhclip.runtime.export.mobile import sample_inputs  # noqa: E402
from zhclip.search.demo import DEMO_MODEL  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RUNNABLE = ("executorch", "mnn")
PRECISIONS = ("fp32", "fp16", "int8")
COLUMNS = ["target", "precision", "tower", "file MB", "batch", "ms per batch", "items/s", "vs PyTorch fp32", "cosine"]


def model_path(name: str, scratch: Path) -> tuple[Path, str]:
    if name == "demo":
        return DEMO_MODEL, "the demo model (ViT 64 px, 4+3 layers, width 128)"
    if Path(name).exists():
        return Path(name), name
    network = random_model(name, seed=0)
    return save_cnclip(network.state_dict(), network.config, scratch / f"{name}.pt"), f"{name}, random weights"


def loader(target: str):
    """The reference program's own `load_tower` (examples/ is not a package: put it on the path)."""
    sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(f"{target}_encode").load_tower


def paired_ms(run, reference, inputs: np.ndarray, reference_inputs: np.ndarray, repeats: int) -> tuple[float, float]:
    """Best milliseconds of `run` and of `reference` (PyTorch fp32), timed in alternation after one warm-up each,
    so that both see the same load on a shared machine: the best of many is the least disturbed."""
    best = [float("inf"), float("inf")]
    for round_ in range(repeats + 1):
        for i, (fn, x) in enumerate(((run, inputs), (reference, reference_inputs))):
            start = time.perf_counter()
            fn(x)
            if round_:
                best[i] = min(best[i], 1000 * (time.perf_counter() - start))
    return best[0], best[1]


def batch_of(inputs: np.ndarray, batch: int) -> np.ndarray:
    return np.resize(inputs, (batch, *inputs.shape[1:]))


def torch_tower(network, tower: str):
    encode = network.encode_image if tower == "image" else network.encode_text

    def run(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return encode(torch.from_numpy(inputs)).numpy()

    return run


def exports_for(target: str, precision: str, model: Path, batches: list[int], scratch: Path) -> dict:
    """(tower, batch) -> export dir; a tower whose file fixes the batch gets one export per batch size."""
    dirs = {}
    for tower in ("image", "text"):
        fixed = target == "executorch" and tower == "image"
        for batch in batches if fixed else [None]:
            out = scratch / f"{target}-{precision}-{tower}-{batch or 'any'}"
            options = ExportOptions(precision, (tower,), batch or 1, force=True)
            started = time.perf_counter()
            export_mobile(target, model, out, options)
            print(f"exported {out.name} in {time.perf_counter() - started:.0f} s", flush=True)
            for size in [batch] if fixed else batches if target in RUNNABLE else [None]:
                dirs[tower, size] = out
    return dirs


def measure(target: str, precision: str, model: Path, args, scratch: Path) -> list[dict]:
    network = build_network(read_weights(model)).eval()
    rows = []
    for (tower, batch), out in exports_for(target, precision, model, args.batches, scratch).items():
        manifest = json.loads((out / "manifest.json").read_text())
        entry = manifest["towers"][tower]
        row = {"target": target, "precision": precision, "tower": tower, "bytes": entry["bytes"], "batch": batch}
        row["cosine"] = entry["fidelity"]["cosine_to_fp32"]
        if target in RUNNABLE:
            run = loader(target)(out / entry["file"], entry)
            inputs = batch_of(sample_inputs(network, tower), batch)
            typed = inputs.astype(entry["inputs"][0]["dtype"])
            row["ms"], row["torch_fp32_ms"] = paired_ms(run, torch_tower(network, tower), typed, inputs, args.repeats)
        rows.append(row)
    return rows


def display(row: dict) -> list[str]:
    cosine = "not run (needs macOS)" if row["cosine"] is None else f"{row['cosine']:.5f}"
    batch = "any" if row["batch"] is None else str(row["batch"])
    cells = [row["target"], row["precision"], row["tower"], f"{row['bytes'] / 2**20:.1f}", batch]
    if "ms" not in row:
        return [*cells, "-", "-", "-", cosine]
    speed = f"{row['batch'] * 1000 / row['ms']:.1f}"
    return [*cells, f"{row['ms']:.1f}", speed, f"{row['torch_fp32_ms'] / row['ms']:.2f}x", cosine]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo", help="demo, an architecture (random weights) or a checkpoint")
    parser.add_argument("--batches", default="1,8", type=lambda s: [int(b) for b in s.split(",")])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--targets", default="executorch,mnn,coreml", type=lambda s: s.split(","))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        model, described = model_path(args.model, scratch)
        rows = [
            row
            for target in args.targets
            for precision in PRECISIONS
            for row in measure(target, precision, model, args, scratch)
        ]
    title = f"Mobile exports of {described} on this CPU (a stand-in for a phone's cores)"
    notes = [
        "Latency: the best of 20 calls after one warm-up, through the reference programs' loaders "
        "(examples/executorch_encode.py, examples/mnn_encode.py), alternating call by call with PyTorch fp32 on the "
        "same tower and batch; 'vs PyTorch fp32' is PyTorch's best divided by the export's (above 1: faster).",
        "cosine: the least cosine to fp32 PyTorch over 8 synthetic scenes or 8 captions, measured at export.",
        "ExecuTorch's image tower fixes its batch in the file (one export per batch size); its text tower and every "
        "MNN tower take any batch. MNN fp16 stores weights in half precision and computes in fp32 on x86.",
        "Core ML: converted and its spec checked against the manifest; coremltools cannot predict on Linux.",
    ]
    table = results.table(title, COLUMNS, [display(row) for row in rows])
    for line in [" | ".join(COLUMNS), *(" | ".join(display(row)) for row in rows)]:
        print(line)
    save("mobile_export", title, [table], notes=notes, data={"mobile_exports": rows})


if __name__ == "__main__":
    main()
