"""Indexing speed on 1920x1080 JPEGs with the full ViT-B-16 architecture (random weights): zhclip's
pipeline vs a MaterialSearch-style baseline (transformers ChineseCLIPModel fp32, full-size decode, batch 4)
on the same files in the same run, and the cosine similarity of the embeddings to the baseline's; the whole
`zhclip index` command (start, model load and all); and each zhclip row as a fraction of the image tower's
GEMM-bound limit at the precision its image path runs (the fastest GEMM sample of its kind taken in this run).

    .venv/bin/python benchmarks/search_index.py [--images 24] [--precisions auto fp32] [--onnx EXPORT_DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402
from search_common import table  # noqa: E402
from search_http import CACHE, vit_b16_checkpoint  # noqa: E402

SIZE = (1920, 1080)


def photos(n: int) -> list[Path]:
    """n rendered scenes saved as 1920x1080 JPEGs (quality 90), cached in the temp folder."""
    from zhclip.data.synth import render_scene, sample_scene

    folder = CACHE / "jpeg-1080p"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    paths = []
    for i in range(n):
        scene = sample_scene(rng)
        path = folder / f"photo_{i:04d}.jpg"
        if not path.is_file():
            render_scene(scene, SIZE, noise=0.03).save(path, quality=90)
        paths.append(path)
    return paths


def baseline(paths: list[Path], hf_dir: Path) -> tuple[float, np.ndarray]:
    """MaterialSearch's way: PIL full decode, the HF processor, ChineseCLIPModel fp32, 4 images a batch."""
    from transformers import ChineseCLIPModel, ChineseCLIPProcessor

    model = ChineseCLIPModel.from_pretrained(hf_dir).eval()
    processor = ChineseCLIPProcessor.from_pretrained(hf_dir)
    out = []
    started = time.perf_counter()
    for i in range(0, len(paths), 4):
        images = [Image.open(p).convert("RGB") for p in paths[i : i + 4]]
        inputs = processor(images=images, return_tensors="pt")
        with torch.no_grad():
            features = model.get_image_features(pixel_values=inputs["pixel_values"])
        features = getattr(features, "pooler_output", features)
        out.append(torch.nn.functional.normalize(features, dim=-1).numpy())
    return time.perf_counter() - started, np.concatenate(out)


def zhclip_index(
    paths: list[Path], source: Path, precision: str, device: str = "cpu"
) -> tuple[float, np.ndarray, object]:
    """`index_library` in this process (on a GPU: its peak memory counted from after the model loaded)."""
    import zhclip
    from zhclip.search import IndexOptions, MediaEncoder, Reader, index_library

    model = zhclip.load(source, device=device, precision=precision)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with photo_folder(paths) as folder:
        db = folder.parent / "library.db"
        summary = index_library(db, [folder], MediaEncoder(model), IndexOptions())
        assert summary.new == len(paths) and not summary.failed, summary.line()
        reader = Reader(db)
        vectors = np.stack(
            [reader.content_vectors(reader.file_by_path(str(folder / p.name)).content_id)[1][0] for p in paths]
        )
    return summary.seconds, vectors, model


@contextmanager
def photo_folder(paths: list[Path]) -> Iterator[Path]:
    """A temporary folder of exactly these photos (the cache folder may hold more, made by other benchmarks)."""
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for path in paths:
            os.link(path, folder / path.name)
        yield folder


def index_command(paths: list[Path], source: Path, precision: str) -> float:
    """Wall seconds of the whole `zhclip index` command in a new process (conversions and plan already cached)."""
    with photo_folder(paths) as folder:
        command = [sys.executable, "-m", "zhclip", "index", folder, "--db", folder.parent / "library.db"]
        started = time.perf_counter()
        subprocess.run([*command, "--model", source, "--precision", precision], check=True, capture_output=True)
        return time.perf_counter() - started


def gemm_peak(model, samples: list[dict]) -> dict:
    """Measures the GEMM of the precision `model`'s image path runs at (the ViT's MLP shape at the indexer's
    batch) once more into `samples`, and returns the fastest sample so far."""
    from zhclip.bench.roofline import gemm_peaks, vit_gemm_shape
    from zhclip.search import MediaEncoder

    precision = model.paths["image"].rpartition("-")[2]
    shape = vit_gemm_shape(model.config, MediaEncoder(model).batch_size)
    samples.append({"precision": precision, **gemm_peaks([precision], shape)[precision]})
    return max((s for s in samples if s["precision"] == precision), key=lambda s: s.get("gflops", 0.0))


def of_limit(images_per_s: float, model, peak: dict) -> str:
    from zhclip.bench.roofline import image_gemm_flops, limit_images_per_s

    if "gflops" not in peak:
        return f"no {peak['precision']} GEMM: {peak['error']}"
    limit = limit_images_per_s(peak["gflops"], image_gemm_flops(model.config))
    gemm = f"{peak['precision']} {peak['gflops']:.0f} GFLOP/s, {peak['kernel']}"
    return f"{images_per_s / limit:.0%} of {limit:.1f} ({gemm})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp32"])
    parser.add_argument(
        "--onnx",
        type=Path,
        help="also index with this `zhclip export onnx` directory of the same "
        "weights (e.g. exported with --precision int8)",
    )
    args = parser.parse_args()
    import zhclip
    from zhclip.models import save_hf

    paths = photos(args.images)
    checkpoint = vit_b16_checkpoint()
    hf_dir = CACHE / "vit-b-16-random-hf"
    if not (hf_dir / "config.json").is_file():
        network = zhclip.load(checkpoint, device="cpu", precision="fp32").network
        save_hf(network.state_dict(), network.config, hf_dir)
    base_s, base_vectors = baseline(paths, hf_dir)
    rows = [
        [
            "MaterialSearch-style (transformers fp32, full decode, batch 4)",
            "fp32",
            f"{len(paths) / base_s:.2f}",
            "1.00x",
            "1.0000",
            "1.0000",
            "",
        ]
    ]
    runs = [(f"zhclip index (precision={p})", checkpoint, p) for p in args.precisions]
    if args.onnx:
        runs.append(("zhclip index (ONNX Runtime export, precision=auto)", args.onnx, "auto"))
    samples: list[dict] = []
    for label, source, precision in runs:
        seconds, vectors, model = zhclip_index(paths, source, precision)
        gemm_peak(model, samples)  # right after the images, as `bench encode` does
        command_s = index_command(paths, source, precision)
        peak = gemm_peak(model, samples)
        cosine = np.sum(vectors * base_vectors, axis=1)
        cosines = [f"{cosine.min():.4f}", f"{cosine.mean():.4f}"]
        for what, s in ((label, seconds), (f"  the whole `zhclip index` command, {precision}", command_s)):
            speed = len(paths) / s
            rows.append(
                [what, model.precision, f"{speed:.2f}", f"{base_s / s:.2f}x", *cosines, of_limit(speed, model, peak)]
            )
    from zhclip.runtime.machine import describe_machine

    print(describe_machine())
    print(
        f"{len(paths)} JPEGs {SIZE[0]}x{SIZE[1]}, ViT-B-16 (random weights), CPU, torch threads "
        f"{torch.get_num_threads()}"
    )
    header = ["pipeline", "precision", "images/s", "vs baseline", "min cosine", "mean cosine", "of GEMM-bound limit"]
    print(table(header, rows))
    gemm = "GEMM samples (GFLOP/s): " + ", ".join(
        f"{s['precision']} {s['gflops']:.0f} ({s['kernel']})" for s in samples if "gflops" in s
    )
    print(gemm)
    save_results(f"{len(paths)} JPEGs {SIZE[0]}x{SIZE[1]}, ViT-B-16 (random weights)", header, rows, gemm)


def save_results(setup: str, header: list[str], rows: list[list[str]], gemm: str) -> None:
    """The JSON for the results pages; the headline is the first zhclip row and its whole command."""
    from zhclip.bench import results

    baseline = f"{rows[0][0]}: {rows[0][2]} images/s"
    headlines = [
        results.headline(f"`zhclip index` of {setup}: {row[0].strip()}", baseline, f"{row[2]} images/s ({row[3]})")
        for row in rows[1:3]
    ]
    save("search-index", f"Indexing speed: {setup}", [results.table(setup, header, rows)], headlines, [gemm])


if __name__ == "__main__":
    main()
