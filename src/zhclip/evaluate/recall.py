"""Recall@1/5/10 exactly as Chinese-CLIP's `evaluation.py` / `evaluation_tr.py` compute and validate it.

A query counts as a hit at K when any of its gold items is among its first K predictions; MR is the mean
of R@1, R@5 and R@10; all are x100. Predictions must give exactly 10 unique integer ids per query and cover
every gold query (extra queries are ignored). Output JSON:
`{"success": true, "score": MR, "scoreJson": {"score", "mean_recall", "r1", "r5", "r10"}}`, or on bad input
`{"success": false, "errorMsg", "errorDetail", "score": 0, "scoreJson": {}}`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.formats import read_texts
from ..data.io import BadRecords, iter_json_lines
from ..errors import InputError

NUM_K = 10


@dataclass(frozen=True)
class Direction:
    name: str  # "t2i" or "i2t"
    query_key: str
    items_key: str
    label: str


TEXT_TO_IMAGE = Direction("t2i", "text_id", "image_ids", "text_to_image")
IMAGE_TO_TEXT = Direction("i2t", "image_id", "text_ids", "image_to_text")
DIRECTIONS = {d.name: d for d in (TEXT_TO_IMAGE, IMAGE_TO_TEXT)}


@dataclass(frozen=True)
class Recall:
    r1: float
    r5: float
    r10: float
    mean_recall: float

    def as_dict(self) -> dict[str, float]:
        return {"r1": self.r1, "r5": self.r5, "r10": self.r10, "mean_recall": self.mean_recall}

    def score_json(self) -> dict[str, Any]:
        return {
            "success": True,
            "score": self.mean_recall,
            "scoreJson": {
                "score": self.mean_recall,
                "mean_recall": self.mean_recall,
                "r1": self.r1,
                "r5": self.r5,
                "r10": self.r10,
            },
        }


def error_json(message: str) -> dict[str, Any]:
    return {"success": False, "errorMsg": message, "errorDetail": message, "score": 0, "scoreJson": {}}


def recall_from_json(obj: Mapping[str, Any], path: str | Path) -> Recall:
    """Read back a metrics JSON written in the format above."""
    if not obj.get("success"):
        raise InputError(path, f"evaluation failed: {obj.get('errorMsg', 'no score')}")
    try:
        scores = obj["scoreJson"]
        return Recall(float(scores["r1"]), float(scores["r5"]), float(scores["r10"]), float(scores["mean_recall"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"not a Chinese-CLIP metrics file: {exc}", field="scoreJson") from None


def gold_text_to_image(texts_jsonl: str | Path) -> dict[int, list[int]]:
    """text_id -> gold image ids, from `{split}_texts.jsonl`."""
    return {r.text_id: list(r.image_ids) for r in read_texts(texts_jsonl)}


def invert_gold(text_to_image: Mapping[int, Iterable[int]]) -> dict[int, list[int]]:
    """image_id -> text ids that name it, in first-seen order (Chinese-CLIP's transform_ir_annotation_to_tr)."""
    out: dict[int, list[int]] = {}
    for text_id, image_ids in text_to_image.items():
        for image_id in image_ids:
            out.setdefault(image_id, []).append(text_id)
    return out


def read_gold(path: str | Path, direction: Direction) -> dict[int, list[int]]:
    """Gold for a direction: `{split}_texts.jsonl` (t2i) or its inverted `.tr.jsonl` form (i2t)."""
    if direction is TEXT_TO_IMAGE:
        return gold_text_to_image(path)
    gold: dict[int, list[int]] = {}
    for line, obj in iter_json_lines(path, BadRecords()):
        try:
            gold[obj["image_id"]] = list(obj["text_ids"])
        except (KeyError, TypeError) as exc:
            raise InputError(path, f"expected image_id and text_ids: {exc}", line=line) from None
    return gold


def validate_predictions(
    rows: Iterable[tuple[int | None, Any]],
    gold: Mapping[int, Any],
    direction: Direction,
    path: str | Path | None = None,
) -> dict[int, list[int]]:
    """Chinese-CLIP's checks on top-10 predictions, row by row (line number, parsed object). Raises InputError."""
    predictions: dict[int, list[int]] = {}
    query_key, items_key = direction.query_key, direction.items_key
    for line, obj in rows:
        if not isinstance(obj, dict) or query_key not in obj:
            raise InputError(path, f"a line without {query_key}", line=line)
        query = obj[query_key]
        if not isinstance(query, int):
            raise InputError(path, f"{query_key} {query!r} must be an integer (not string)", line=line, field=query_key)
        predicted = obj.get(items_key)
        if not isinstance(predicted, list):
            raise InputError(
                path, f"{items_key} of {query_key} {query} missing or not a list", line=line, field=items_key
            )
        if len(predicted) != NUM_K:
            raise InputError(
                path,
                f"{query_key} {query} has {len(predicted)} predicted {items_key}, need {NUM_K}",
                line=line,
                field=items_key,
            )
        for rank, item in enumerate(predicted, start=1):
            if not isinstance(item, int):
                raise InputError(
                    path,
                    f"{query_key} {query} has a non-integer id {item!r} at rank {rank}",
                    line=line,
                    field=items_key,
                )
        if len(set(predicted)) != NUM_K:
            raise InputError(
                path, f"{query_key} {query} has duplicate ids in its top {NUM_K}", line=line, field=items_key
            )
        predictions[query] = predicted
    missing = [q for q in gold if q not in predictions]
    if missing:
        shown = ", ".join(str(q) for q in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise InputError(path, f"{len(missing)} {query_key}(s) with gold have no prediction: {shown}")
    return predictions


def read_predictions(path: str | Path, gold: Mapping[int, Any], direction: Direction) -> dict[int, list[int]]:
    return validate_predictions(iter_json_lines(path, BadRecords()), gold, direction, path)


def compute_recall(gold: Mapping[int, Iterable[int]], predictions: Mapping[int, list[int]]) -> Recall:
    """R@1/5/10 and their mean, x100, over every gold query (same arithmetic as Chinese-CLIP)."""
    if not gold:
        raise InputError(None, "no gold queries to score")
    hits = [0, 0, 0]
    for query, gold_ids in gold.items():
        wanted = set(gold_ids)
        top = predictions[query]
        for slot, k in enumerate((1, 5, 10)):
            hits[slot] += any(item in wanted for item in top[:k])
    r1, r5, r10 = (h * 1.0 / len(gold) for h in hits)
    mean_recall = (r1 + r5 + r10) / 3.0
    return Recall(r1 * 100, r5 * 100, r10 * 100, mean_recall * 100)


def score_files(gold_path: str | Path, predictions_path: str | Path, direction: Direction) -> Recall:
    """Chinese-CLIP's evaluation.py (t2i) or evaluation_tr.py (i2t) on files."""
    gold = read_gold(gold_path, direction)
    return compute_recall(gold, read_predictions(predictions_path, gold, direction))
