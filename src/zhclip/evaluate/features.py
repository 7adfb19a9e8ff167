"""Batched, streaming feature extraction for a split, and Chinese-CLIP's feature jsonl format:
`{"image_id": int, "feature": [floats]}` / `{"text_id": int, "feature": [floats]}` (L2-normalised)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.dataset import normalize_text
from ..data.formats import TextRecord
from ..data.images import ImageSource
from ..data.io import BadRecords
from ..errors import InputError
from ..io import write_jsonl
from ..models import ClipModel

DECODE_THREADS = 4


@dataclass
class Features:
    ids: np.ndarray  # int64, one per row
    vectors: np.ndarray  # float32 (rows, dim), L2-normalised
    seconds: float

    @property
    def per_second(self) -> float:
        return len(self.ids) / self.seconds if self.seconds > 0 else float("nan")


def image_features(
    model: ClipModel, images: ImageSource, batch_size: int = 64, bad: BadRecords | None = None, progress: bool = False
) -> Features:
    """Encode every image of the source in its own order. Decoding and resizing run in a thread pool, one
    batch ahead of the model. An image that does not decode is a bad record (raised, or skipped)."""
    bad = bad or BadRecords()
    start = time.perf_counter()
    ids, vectors = [], []
    bar = tqdm(total=len(images), desc="image features", unit="img", disable=not progress)
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        for batch_ids, pixels in _pixel_batches(model, images, batch_size, bad, pool):
            if batch_ids:
                ids.extend(batch_ids)
                vectors.append(model.encode_pixels(torch.stack(pixels)))
            bar.update(len(pixels))
    bar.close()
    return _features(ids, vectors, model.embed_dim, time.perf_counter() - start)


def _pixel_batches(
    model: ClipModel, images: ImageSource, batch_size: int, bad: BadRecords, pool: ThreadPoolExecutor
) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
    def prepare(image_id: int) -> torch.Tensor | InputError:
        try:
            return model.transform(images.load(image_id))
        except InputError as exc:
            return exc

    ids = [int(i) for i in images.ids]
    pending = None
    for begin in range(0, len(ids), batch_size):
        chunk = ids[begin : begin + batch_size]
        submitted = (chunk, pool.map(prepare, chunk))  # starts decoding now, while the model runs
        if pending is not None:
            yield _good(*pending, bad)
        pending = submitted
    if pending is not None:
        yield _good(*pending, bad)


def _good(
    chunk: list[int], results: Iterator[torch.Tensor | InputError], bad: BadRecords
) -> tuple[list[int], list[torch.Tensor]]:
    ids, pixels = [], []
    for image_id, result in zip(chunk, results, strict=True):
        if isinstance(result, InputError):
            bad.handle(result)
        else:
            ids.append(image_id)
            pixels.append(result)
    return ids, pixels


def text_features(
    model: ClipModel, texts: Sequence[TextRecord], batch_size: int = 64, progress: bool = False
) -> Features:
    """Encode texts with Chinese-CLIP's text preprocessing, in the given order."""
    start = time.perf_counter()
    vectors = []
    bar = tqdm(total=len(texts), desc="text features", unit="text", disable=not progress)
    for begin in range(0, len(texts), batch_size):
        chunk = [normalize_text(r.text) for r in texts[begin : begin + batch_size]]
        vectors.append(model.encode_ids(model.tokenizer(chunk)))
        bar.update(len(chunk))
    bar.close()
    return _features([r.text_id for r in texts], vectors, model.embed_dim, time.perf_counter() - start)


def _features(ids: list[int], vectors: list[np.ndarray], dim: int, seconds: float) -> Features:
    stacked = np.concatenate(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    return Features(np.array(ids, dtype=np.int64), stacked.astype(np.float32, copy=False), seconds)


def write_features(out: str | Path, key: str, features: Features) -> int:
    """`key` is "image_id" or "text_id"."""
    rows = ({key: int(i), "feature": v.tolist()} for i, v in zip(features.ids, features.vectors, strict=True))
    return write_jsonl(out, rows)
