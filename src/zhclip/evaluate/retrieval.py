"""Text<->image retrieval evaluation of a model on one split, the Chinese-CLIP way.

Files written to `out_dir` (names follow Chinese-CLIP's scripts):

    {split}_imgs.img_feat.jsonl     image features        {"image_id", "feature"}
    {split}_texts.txt_feat.jsonl    text features         {"text_id", "feature"}
    {split}_predictions.jsonl       text->image top 10    {"text_id", "image_ids"}
    {split}_tr_predictions.jsonl    image->text top 10    {"image_id", "text_ids"}
    {split}_texts.tr.jsonl          image->text gold      {"image_id", "text_ids"}
    {split}_t2i_metrics.json        Chinese-CLIP metrics JSON, text->image
    {split}_i2t_metrics.json        Chinese-CLIP metrics JSON, image->text
    retrieval_summary.json          model facts, sizes, encode speed, timings, world_size, per_rank
                                    [{"rank", "images", "texts"}] (rows each process encoded), the names above
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.formats import SplitPaths, TextRecord, read_texts
from ..data.images import open_images
from ..data.io import BadRecords
from ..errors import InputError
from ..io import write_json, write_jsonl
from ..models import ClipModel
from .features import EncodedItems, Shard, image_features, text_features, write_features
from .recall import (
    IMAGE_TO_TEXT,
    NUM_K,
    TEXT_TO_IMAGE,
    Direction,
    Recall,
    compute_recall,
    invert_gold,
    validate_predictions,
)
from .topk import chunked_topk

SUMMARY_FILE = "retrieval_summary.json"


def output_files(split: str) -> dict[str, str]:
    return {
        "image_features": f"{split}_imgs.img_feat.jsonl",
        "text_features": f"{split}_texts.txt_feat.jsonl",
        "t2i_predictions": f"{split}_predictions.jsonl",
        "i2t_predictions": f"{split}_tr_predictions.jsonl",
        "i2t_gold": f"{split}_texts.tr.jsonl",
        "t2i_metrics": f"{split}_t2i_metrics.json",
        "i2t_metrics": f"{split}_i2t_metrics.json",
    }


@dataclass
class _Encoded:
    """A split's texts and every rank's gathered features: what ranking and writing need."""

    texts: list[TextRecord]
    images: EncodedItems
    text: EncodedItems
    skipped: int
    world_size: int


def evaluate_retrieval(
    model: ClipModel,
    dataset_dir: str | Path,
    split: str = "test",
    out_dir: str | Path | None = None,
    batch_size: int = 64,
    progress: bool = False,
    *,
    skip_bad: bool = False,
    name: str | None = None,
    shard: Shard | None = None,
) -> dict[str, Any]:
    """R@1/5/10 and mean recall (x100) in both directions, plus `num_texts` and `num_images`.

    Every text of `{split}_texts.jsonl` is a query over every image of the split, and every image named by
    some text is a query over all texts. With `out_dir`, also writes the files listed in the module doc.
    Under torchrun, call it on every rank with `shard`: each rank encodes its share, rank 0 ranks and writes,
    and every rank returns the result."""
    shard = shard or Shard()
    paths = SplitPaths(Path(dataset_dir), split)
    bad = BadRecords(skip_bad)
    images = open_images(dataset_dir, split, bad)
    texts = _resolvable(
        _unique_ids(read_texts(paths.texts_jsonl, bad), paths.texts_jsonl, bad), images, paths.texts_jsonl, bad
    )
    _check_sizes(len(images), len(texts), paths)
    image_feats = image_features(model, images, batch_size, bad, progress, shard)
    texts = _resolvable(texts, set(image_feats.ids.tolist()), paths.texts_jsonl, bad)
    _check_sizes(len(image_feats.ids), len(texts), paths)
    text_feats = text_features(model, texts, batch_size, progress, shard)
    features = _Encoded(texts, image_feats, text_feats, bad.count, shard.world_size)
    return shard.on_main(lambda: _rank_and_write(model, paths, features, out_dir, name, progress))


def _rank_and_write(
    model: ClipModel,
    paths: SplitPaths,
    encoded: _Encoded,
    out_dir: str | Path | None,
    name: str | None,
    progress: bool,
) -> dict[str, Any]:
    start = time.perf_counter()
    image_feats, text_feats = encoded.images, encoded.text
    gold = {TEXT_TO_IMAGE: {r.text_id: list(r.image_ids) for r in encoded.texts}}
    gold[IMAGE_TO_TEXT] = invert_gold(gold[TEXT_TO_IMAGE])
    predictions = {
        TEXT_TO_IMAGE: _predict(text_feats, image_feats, TEXT_TO_IMAGE, progress),
        IMAGE_TO_TEXT: _predict(image_feats, text_feats, IMAGE_TO_TEXT, progress),
    }
    # The in-memory predictions go through the same validation as prediction files.
    recall = {d: compute_recall(gold[d], validate_predictions(enumerate(predictions[d], 1), gold[d], d)) for d in gold}
    topk_seconds = time.perf_counter() - start

    result = {d.label: recall[d].as_dict() for d in gold}
    result.update(num_texts=len(encoded.texts), num_images=len(image_feats.ids))
    if encoded.skipped:
        result["skipped"] = encoded.skipped
    if out_dir is not None:
        facts = {
            "image_features_s": image_feats.seconds,
            "text_features_s": text_feats.seconds,
            "topk_s": topk_seconds,
            "image_per_s": image_feats.per_second,
            "text_per_s": text_feats.per_second,
        }
        _write_outputs(Path(out_dir), model, paths, name, encoded, gold, predictions, recall, result, facts)
    return result


def encode_split(
    model: ClipModel,
    dataset_dir: str | Path,
    split: str,
    out_dir: str | Path,
    batch_size: int = 64,
    progress: bool = False,
    *,
    skip_bad: bool = False,
    shard: Shard | None = None,
) -> dict[str, Any]:
    """Chinese-CLIP's feature files of a split (every image and every text, as its extract_features writes
    them) in `out_dir`; under torchrun each rank encodes its share and rank 0 writes. Returns the counts."""
    shard = shard or Shard()
    paths = SplitPaths(Path(dataset_dir), split)
    bad = BadRecords(skip_bad)
    images = open_images(dataset_dir, split, bad)
    texts = _unique_ids(read_texts(paths.texts_jsonl, bad), paths.texts_jsonl, bad)
    image_feats = image_features(model, images, batch_size, bad, progress, shard)
    text_feats = text_features(model, texts, batch_size, progress, shard)

    def write() -> dict[str, Any]:
        out, files = Path(out_dir), output_files(split)
        out.mkdir(parents=True, exist_ok=True)
        write_features(out / files["image_features"], "image_id", image_feats)
        write_features(out / files["text_features"], "text_id", text_feats)
        return {
            "images": len(image_feats.ids),
            "texts": len(text_feats.ids),
            "skipped": bad.count,
            "world_size": shard.world_size,
            "per_rank": per_rank(image_feats, text_feats),
            "files": [str(out / files["image_features"]), str(out / files["text_features"])],
        }

    return shard.on_main(write)


def _unique_ids(records: Iterable[TextRecord], path: Path, bad: BadRecords) -> list[TextRecord]:
    seen: dict[int, int] = {}
    out = []
    for record in records:
        if record.text_id in seen:
            bad.handle(
                InputError(
                    path,
                    f"text_id {record.text_id} repeats line {seen[record.text_id]}",
                    line=record.line,
                    field="text_id",
                )
            )
            continue
        seen[record.text_id] = record.line
        out.append(record)
    return out


def _resolvable(texts: Sequence[TextRecord], images: Container[int], path: Path, bad: BadRecords) -> list[TextRecord]:
    """Texts all of whose image ids exist; the others are bad records."""
    out = []
    for record in texts:
        missing = [i for i in record.image_ids if i not in images]
        if missing:
            bad.handle(
                InputError(
                    path,
                    f"image id(s) {missing[:10]} not among the split's images",
                    line=record.line,
                    field="image_ids",
                )
            )
        else:
            out.append(record)
    return out


def _check_sizes(num_images: int, num_texts: int, paths: SplitPaths) -> None:
    if num_images < NUM_K or num_texts < NUM_K:
        raise InputError(
            paths.root,
            f"split {paths.split!r} has {num_images} images and {num_texts} texts; "
            f"top-{NUM_K} retrieval needs at least {NUM_K} of each",
        )


def _predict(queries: EncodedItems, gallery: EncodedItems, direction: Direction, progress: bool) -> list[dict]:
    top = chunked_topk(queries.vectors, gallery.vectors, NUM_K, progress, desc=f"top-{NUM_K} {direction.name}")
    return [
        {direction.query_key: int(q), direction.items_key: gallery.ids[row].tolist()}
        for q, row in zip(queries.ids, top, strict=True)
    ]


def _write_outputs(
    out: Path,
    model: ClipModel,
    paths: SplitPaths,
    name: str | None,
    encoded: _Encoded,
    gold: dict[Direction, dict[int, list[int]]],
    predictions: dict[Direction, list[dict]],
    recall: dict[Direction, Recall],
    result: dict[str, Any],
    timing: dict[str, float],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = output_files(paths.split)
    write_features(out / files["image_features"], "image_id", encoded.images)
    write_features(out / files["text_features"], "text_id", encoded.text)
    write_jsonl(out / files["t2i_predictions"], predictions[TEXT_TO_IMAGE])
    write_jsonl(out / files["i2t_predictions"], predictions[IMAGE_TO_TEXT])
    write_jsonl(out / files["i2t_gold"], ({"image_id": i, "text_ids": t} for i, t in gold[IMAGE_TO_TEXT].items()))
    write_json(out / files["t2i_metrics"], recall[TEXT_TO_IMAGE].score_json())
    write_json(out / files["i2t_metrics"], recall[IMAGE_TO_TEXT].score_json())
    write_json(
        out / SUMMARY_FILE,
        {
            **model_facts(model, name),
            "dataset": paths.root.resolve().name,
            "dataset_dir": str(paths.root.resolve()),
            "split": paths.split,
            "num_texts": result["num_texts"],
            "num_images": result["num_images"],
            "skipped": result.get("skipped", 0),
            **{key: round(value, 3) for key, value in timing.items()},
            "world_size": encoded.world_size,
            "per_rank": per_rank(encoded.images, encoded.text),
            "files": files,
        },
    )


def per_rank(images: EncodedItems, texts: EncodedItems) -> list[dict[str, int]]:
    """How many images and texts each process encoded."""
    counts = zip(images.per_rank, texts.per_rank, strict=True)
    return [{"rank": rank, "images": i, "texts": t} for rank, (i, t) in enumerate(counts)]


def model_facts(model: ClipModel, name: str | None = None) -> dict[str, Any]:
    """What a report says about a model: its name, architecture, parameter count and weight size."""
    size = model.weight_bytes
    return {
        "model": name or default_model_name(model.source),
        "model_source": model.source,
        "arch": model.arch,
        "params": model.num_params,
        "size_mb": round(size / 2**20, 2),
        "embed_dim": model.embed_dim,
        "image_size": model.image_size,
        "precision": model.precision,
        "device": str(model.device),
    }


def default_model_name(source: str) -> str:
    path = Path(source)
    return path.stem if path.suffix in (".pt", ".pth", ".bin", ".ckpt", ".safetensors") else path.name or source
