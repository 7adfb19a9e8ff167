"""Zero-shot image classification, as Chinese-CLIP evaluates it.

Data: an image folder `DATA/<class index>/<images>` (or `DATA/test/<class index>/...`) and `label_cn.txt`
with one Chinese class name per line (line i = class i). Each class embedding is the normalised mean of
the normalised embeddings of its prompts (templates like "{}的照片。"); logits = 100 x cosine.
Templates: `--templates NAME|FILE`, else `DATA/templates.txt` when present (per-dataset override), else
the default set."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..data.dataset import normalize_text
from ..data.io import BadRecords
from ..errors import InputError
from ..io import write_json, write_jsonl
from ..media import IMAGE_SUFFIXES, open_image
from ..models import ClipModel
from .features import Shard
from .retrieval import model_facts
from .topk import topk_stable

METRICS_FILE = "zeroshot_metrics.json"
PREDICTIONS_FILE = "zeroshot_predictions.jsonl"
DATASET_TEMPLATES_FILE = "templates.txt"

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "default": (
        "{}。",
        "{}的照片。",
        "一张{}的照片。",
        "一张包含{}的图片。",
        "图片里有{}。",
        "一张清晰的{}的照片。",
        "一张模糊的{}的照片。",
        "{}的特写照片。",
        "一张{}的低分辨率照片。",
        "一幅{}的画。",
    ),
}


def load_labels(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    for number, label in enumerate(labels, start=1):
        if not label:
            raise InputError(path, "empty class name", line=number)
    if not labels:
        raise InputError(path, "no class names")
    return labels


def load_templates(spec: str | None, data_dir: str | Path) -> list[str]:
    """A named template set, a file with one template per line, or the dataset's own templates.txt."""
    if spec in TEMPLATE_SETS:
        return list(TEMPLATE_SETS[spec])
    path = Path(spec) if spec else Path(data_dir) / DATASET_TEMPLATES_FILE
    if spec is None and not path.is_file():
        return list(TEMPLATE_SETS["default"])
    if not path.is_file():
        raise InputError(
            path, f"no such template file (or use one of: {', '.join(TEMPLATE_SETS)})", field="--templates"
        )
    templates = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, template in enumerate(templates, start=1):
        if template.count("{}") != 1:
            raise InputError(path, f"template {template!r} needs exactly one {{}}", line=number)
    return templates


def image_folder(data_dir: str | Path, num_classes: int) -> list[tuple[Path, int]]:
    """(image path, class index) for every image under `<class index>/` folders, sorted."""
    root = Path(data_dir)
    if (root / "test").is_dir() and not any(p.name.isdigit() for p in root.iterdir() if p.is_dir()):
        root = root / "test"
    if not root.is_dir():
        raise InputError(root, "no such folder")
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not folder.name.isdigit() or int(folder.name) >= num_classes:
            raise InputError(folder, f"class folders must be named by class index 0..{num_classes - 1}")
        items += [(f, int(folder.name)) for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise InputError(root, "no images in <class index>/ subfolders")
    return items


def classifier(model: ClipModel, labels: Sequence[str], templates: Sequence[str]) -> np.ndarray:
    """(classes, dim): per class, the normalised mean of its normalised prompt embeddings."""
    prompts = [normalize_text(t.format(label)) for label in labels for t in templates]
    embeddings = model.encode_ids(model.tokenizer(prompts)).reshape(len(labels), len(templates), -1)
    means = embeddings.mean(axis=1)
    return means / np.linalg.norm(means, axis=1, keepdims=True)


def evaluate_zeroshot(
    model: ClipModel,
    data_dir: str | Path,
    labels_path: str | Path,
    templates: str | None = None,
    out_dir: str | Path | None = None,
    batch_size: int = 64,
    progress: bool = False,
    *,
    skip_bad: bool = False,
    name: str | None = None,
    shard: Shard | None = None,
) -> dict[str, Any]:
    """Top-1 and top-5 accuracy (x100) of zero-shot classification over the image folder. Under torchrun, call
    it on every rank with `shard`: each rank encodes its share of the images, rank 0 scores and writes."""
    shard = shard or Shard()
    labels = load_labels(labels_path)
    prompts = load_templates(templates, data_dir)
    items = image_folder(data_dir, len(labels))
    part = shard.part(items, batch_size)
    parts = shard.gather(lambda: _image_features(model, part, batch_size, BadRecords(skip_bad), progress))
    kept = [item for items_kept, _ in parts for item in items_kept]
    if not kept:
        raise InputError(None, "no image decoded")
    features = np.concatenate([vectors for _, vectors in parts])
    return shard.on_main(
        lambda: _score(model, labels, prompts, Path(data_dir), kept, features, len(items), out_dir, name)
    )


def _score(
    model: ClipModel,
    labels: list[str],
    prompts: list[str],
    data_dir: Path,
    kept: list[tuple[Path, int]],
    features: np.ndarray,
    num_items: int,
    out_dir: str | Path | None,
    name: str | None,
) -> dict[str, Any]:
    weights = classifier(model, labels, prompts)
    top = topk_stable(100.0 * features @ weights.T, min(5, len(labels)))
    truth = np.array([label for _, label in kept])
    result = {
        "top1": float((top[:, 0] == truth).mean() * 100),
        "top5": float((top == truth[:, None]).any(axis=1).mean() * 100),
        "num_images": len(kept),
        "num_classes": len(labels),
        "num_templates": len(prompts),
        "skipped": num_items - len(kept),
    }
    if out_dir is not None:
        _write_outputs(Path(out_dir), data_dir, model, name, kept, top, result)
    return result


def _image_features(
    model: ClipModel, items: list[tuple[Path, int]], batch_size: int, bad: BadRecords, progress: bool
) -> tuple[list[tuple[Path, int]], np.ndarray]:
    """Encode the images batch by batch (never all decoded at once); undecodable ones are bad records."""
    kept, vectors = [], []
    bar = tqdm(total=len(items), desc="zero-shot images", unit="img", disable=not progress)
    for begin in range(0, len(items), batch_size):
        batch, pixels = [], []
        for path, label in items[begin : begin + batch_size]:
            try:
                pixels.append(model.transform(open_image(path)))
                batch.append((path, label))
            except InputError as exc:
                bad.handle(exc)
        if pixels:
            vectors.append(model.encode_pixels(torch.stack(pixels)))
            kept += batch
        bar.update(min(batch_size, len(items) - begin))
    bar.close()
    return kept, np.concatenate(vectors) if vectors else np.zeros((0, model.embed_dim), np.float32)


def _write_outputs(
    out: Path,
    data_dir: Path,
    model: ClipModel,
    name: str | None,
    items: list[tuple[Path, int]],
    top: np.ndarray,
    result: dict[str, Any],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = (
        {"image": str(path.relative_to(data_dir)), "label": label, "top5": row.tolist()}
        for (path, label), row in zip(items, top, strict=True)
    )
    write_jsonl(out / PREDICTIONS_FILE, rows)
    dataset = "/".join(data_dir.resolve().parts[-2:])  # e.g. synth/zeroshot, datasets/cifar10
    write_json(out / METRICS_FILE, {**model_facts(model, name), "dataset": dataset, **result})
