"""Indexing on an NVIDIA GPU: `zhclip index` (precision auto: the fastest faithful GPU path per tower, see
docs/compression.md) against MaterialSearch's way on the same GPU (transformers ChineseCLIPModel fp32, full-size
decode, the HF processor, 4 images a batch: what `search_index.py` runs on the CPU), on the same 1920x1080 JPEGs in
the same run, with the cosine of zhclip's vectors to the baseline's and the peak GPU memory of each. Writes
`benchmarks/results/machines/<kind>/search-index-gpu.json`. Exits at once where torch sees no CUDA device.

    .venv/bin/python benchmarks/gpu_index.py [--images 200] [--precisions auto fp16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402
from search_common import table  # noqa: E402
from search_http import CACHE, vit_b16_checkpoint  # noqa: E402
from search_index import photo_folder, photos, zhclip_index  # noqa: E402

BASELINE_BATCH = 4


def baseline(paths: list[Path], hf_dir: Path) -> tuple[float, np.ndarray, float]:
    """MaterialSearch's way on the GPU: seconds, unit vectors, peak GPU MiB."""
    from transformers import ChineseCLIPModel, ChineseCLIPProcessor

    model = ChineseCLIPModel.from_pretrained(hf_dir).eval().to("cuda")
    processor = ChineseCLIPProcessor.from_pretrained(hf_dir)
    torch.cuda.reset_peak_memory_stats()
    out = []
    started = time.perf_counter()
    for i in range(0, len(paths), BASELINE_BATCH):
        images = [Image.open(p).convert("RGB") for p in paths[i : i + BASELINE_BATCH]]
        inputs = processor(images=images, return_tensors="pt")
        with torch.no_grad():
            features = model.get_image_features(pixel_values=inputs["pixel_values"].to("cuda"))
        features = getattr(features, "pooler_output", features)
        out.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**20
    del model
    torch.cuda.empty_cache()
    return seconds, np.concatenate(out), peak


def index_command(paths: list[Path], source: Path, precision: str) -> float:
    """Wall seconds of the whole `zhclip index --device cuda` command in a new process (plan and engines cached)."""
    with photo_folder(paths) as folder:
        command = [sys.executable, "-m", "zhclip", "index", folder, "--db", folder.parent / "library.db"]
        command += ["--model", source, "--precision", precision, "--device", "cuda", "--no-progress"]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started


def gpu_memory(model) -> str:
    from zhclip.bench.gpu import gpu_peak

    found = gpu_peak(model.paths)
    return "-" if found["gpu_peak_mb"] is None else f"{found['gpu_peak_mb']:.0f} ({found['gpu_memory_by']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp16"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_index: skipped (torch sees no CUDA device)")
        return
    import zhclip
    from zhclip.models import save_hf
    from zhclip.runtime.machine import describe_machine

    paths = photos(args.images)
    checkpoint = vit_b16_checkpoint()
    hf_dir = CACHE / "vit-b-16-random-hf"
    if not (hf_dir / "config.json").is_file():
        network = zhclip.load(checkpoint, device="cpu", precision="fp32").network
        save_hf(network.state_dict(), network.config, hf_dir)
    base_s, base_vectors, base_peak = baseline(paths, hf_dir)
    label = f"MaterialSearch-style (transformers fp32 on the GPU, full decode, batch {BASELINE_BATCH})"
    rows = [[label, "fp32", f"{len(paths) / base_s:.2f}", "1.00x", "1.0000", "1.0000", f"{base_peak:.0f}"]]
    for precision in args.precisions:
        seconds, vectors, model = zhclip_index(paths, checkpoint, precision, device="cuda")
        memory = gpu_memory(model)
        command_s = index_command(paths, checkpoint, precision)
        cosine = np.sum(vectors * base_vectors, axis=1)
        cosines = [f"{cosine.min():.4f}", f"{cosine.mean():.4f}"]
        label = f"zhclip index (precision={precision}: {model.paths['image']} / {model.paths['text']})"
        for what, s, peak in ((label, seconds, memory), ("  the whole command", command_s, "")):
            speed = len(paths) / s
            rows.append([what, model.precision, f"{speed:.2f}", f"{base_s / s:.2f}x", *cosines, peak])
        del model
        torch.cuda.empty_cache()
    print(describe_machine())
    setup = f"{len(paths)} JPEGs 1920x1080, ViT-B-16 (random weights), {torch.cuda.get_device_name()}"
    header = ["pipeline", "precision", "images/s", "vs baseline", "min cosine", "mean cosine", "GPU peak MiB"]
    print(setup)
    print(table(header, rows))
    save_results(setup, header, rows)


def save_results(setup: str, header: list[str], rows: list[list[str]]) -> None:
    from zhclip.bench import results

    baseline_cell = f"{rows[0][0]}: {rows[0][2]} images/s"
    headlines = [
        results.headline(
            f"`zhclip index` on the GPU, {setup}: {rows[1][0]}", baseline_cell, f"{rows[1][2]} images/s ({rows[1][3]})"
        )
    ]
    save("search-index-gpu", f"Indexing on the GPU: {setup}", [results.table(setup, header, rows)], headlines)


if __name__ == "__main__":
    main()
