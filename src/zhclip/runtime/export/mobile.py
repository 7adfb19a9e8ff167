"""Export a model's towers for one mobile runtime: check what the runtime can take, convert each tower into a
temporary directory, measure it against fp32 PyTorch where it runs here, and only then put the directory in place
(a failed conversion or a refused export leaves nothing behind)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...data.synth import render_scene, sample_scene
from ...errors import InputError, NumericsError, UnsupportedError
from ...io import atomic_path, write_json
from ...models.factory import build_network, read_weights
from ...models.network import ClipNetwork
from ...models.tokenizer import BUNDLED_VOCAB, Tokenizer
from ...models.transform import ImageTransform
from . import coreml, executorch, mnn
from .base import TOWERS, Target, TowerSpec, tower_bytes
from .manifest import MANIFEST, VOCAB, build_manifest, tower_entry

log = logging.getLogger(__name__)

TARGETS: dict[str, Target] = {t.name: t for t in (executorch.TARGET, mnn.TARGET, coreml.TARGET)}
BARS = {"fp32": 0.999, "fp16": 0.999, "int8": 0.99}  # least cosine to fp32 PyTorch over the samples
SAMPLE_TEXTS = (
    "一只红色的猫坐在沙发上",
    "海边的日落",
    "两个蓝色的圆形和一个绿色的三角形",
    "城市夜景，高楼灯火通明",
    "A dog running on the grass",
    "黄色的正方形在左边",
    "下雪的山",
    "一碗热腾腾的面条",
)
SAMPLE_IMAGES = 8


@dataclass(frozen=True)
class ExportOptions:
    precision: str = "fp32"
    towers: tuple[str, ...] = TOWERS
    batch: int = 1  # for towers whose runtime fixes the batch in the file
    force: bool = False  # keep an export whose cosine misses its bar (the manifest says so)
    arch: str | None = None


def export_mobile(target_name: str, source: str | Path, out_dir: str | Path, options: ExportOptions) -> Path:
    """Write `source`'s towers for `target_name` with `manifest.json` and `vocab.txt` to `out_dir`."""
    target = _check_request(target_name, options)
    target.require()
    weights = read_weights(source, options.arch)
    network = build_network(weights).eval()
    check_size(target, network, options.towers)
    with atomic_path(out_dir, directory=True) as tmp:
        entries = {}
        for tower in options.towers:
            spec = target.spec(tower, network.config, options.batch)
            path = tmp / f"{tower}.{options.precision}{target.suffix}"
            log.info("converting the %s tower for %s (%s)", tower, target.name, options.precision)
            target.convert(network, spec, options.precision, path)
            entries[tower] = tower_entry(
                target, spec, path, _fidelity(target, network, spec, path, options, weights.vocab)
            )
        shutil.copyfile(weights.vocab or BUNDLED_VOCAB, tmp / VOCAB)
        write_json(tmp / MANIFEST, build_manifest(target, network, options.precision, entries, weights.source))
    return Path(out_dir)


def _check_request(target_name: str, options: ExportOptions) -> Target:
    if target_name not in TARGETS:
        raise InputError(None, f"unknown export target {target_name!r}; use {', '.join(TARGETS)}", field="FORMAT")
    target = TARGETS[target_name]
    if options.precision not in target.precisions:
        raise UnsupportedError(
            f"{target.name} exports take precision {', '.join(target.precisions)}, not {options.precision!r}"
        )
    unknown = [t for t in options.towers if t not in TOWERS]
    if unknown or not options.towers:
        raise InputError(
            None, f"unknown tower {unknown[0] if unknown else '(none)'!r}; use image, text", field="--towers"
        )
    if options.batch < 1:
        raise InputError(None, f"batch must be at least 1, got {options.batch}", field="--batch")
    return target


def check_size(target: Target, network: ClipNetwork, towers: tuple[str, ...]) -> None:
    if target.max_tower_bytes is None:
        return
    for tower in towers:
        if tower_bytes(network, tower) > target.max_tower_bytes:
            raise UnsupportedError(
                f"{target.name} exports take towers of at most {target.max_tower_bytes / 1e9:.1f} GB of fp32 weights "
                f"({target.why_limit}); the {network.config.name} {tower} tower has "
                f"{tower_bytes(network, tower) / 1e9:.1f} GB: ViT-B-16, ViT-L-14, ViT-L-14-336 and smaller fit"
            )


def _fidelity(
    target: Target, network: ClipNetwork, spec: TowerSpec, path: Path, options: ExportOptions, vocab: Path | None
) -> dict:
    """The least cosine to fp32 PyTorch over the sample inputs; refused below the bar unless `force`."""
    bar = BARS[options.precision]
    if target.run is None:
        return {"cosine_to_fp32": None, "bar": bar, "not_run": target.not_run}
    inputs = sample_inputs(network, spec.tower, vocab)
    with torch.inference_mode():
        expected = _tower_output(network, spec.tower, torch.from_numpy(inputs)).numpy()
    got = run_in_batches(target, path, spec, inputs)
    cosine = float(np.min(row_cosines(got, expected)))
    fidelity = {"cosine_to_fp32": round(cosine, 6), "bar": bar, "samples": len(inputs), "passed": cosine >= bar}
    if cosine < bar:
        if not options.force:
            raise NumericsError(
                f"the {target.name} {options.precision} {spec.tower} tower reaches cosine {cosine:.4f} to fp32, "
                f"below the bar {bar}; nothing was written (--force keeps it, marked in the manifest)"
            )
        log.warning("keeping the %s tower at cosine %.4f < %s (--force)", spec.tower, cosine, bar)
        fidelity["forced"] = True
    return fidelity


def _tower_output(network: ClipNetwork, tower: str, inputs: torch.Tensor) -> torch.Tensor:
    return network.encode_image(inputs) if tower == "image" else network.encode_text(inputs)


def sample_inputs(network: ClipNetwork, tower: str, vocab: Path | None = None) -> np.ndarray:
    """Preprocessed synthetic scenes or tokenized captions (fixed seeds), as the tower takes them."""
    if tower == "text":
        return Tokenizer(vocab, network.config.context_length).ids(list(SAMPLE_TEXTS))
    transform = ImageTransform(network.config.vision.image_size)
    rng = np.random.default_rng(2026)
    return np.stack(
        [transform.to_array(render_scene(sample_scene(rng), size=(160, 120))) for _ in range(SAMPLE_IMAGES)]
    )


def run_in_batches(target: Target, path: Path, spec: TowerSpec, inputs: np.ndarray) -> np.ndarray:
    """Run `inputs` through a file; a fixed batch is filled up with copies of the last row and cut back after."""
    inputs = inputs.astype(spec.dtype)
    if not spec.batch:
        return target.run(path, spec, inputs)
    out = []
    for start in range(0, len(inputs), spec.batch):
        chunk = inputs[start : start + spec.batch]
        filled = np.concatenate([chunk, np.repeat(chunk[-1:], spec.batch - len(chunk), axis=0)])
        out.append(target.run(path, spec, filled)[: len(chunk)])
    return np.concatenate(out)


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
