"""Batched, streaming feature extraction for a split, and Chinese-CLIP's feature jsonl format:
`{"image_id": int, "feature": [floats]}` / `{"text_id": int, "feature": [floats]}` (L2-normalised).

Under `torchrun` a `Shard` splits the work: each rank encodes a contiguous block of whole batches, and the
blocks are gathered in rank order. Every item is encoded in the same batch as in one process, so the gathered
features equal one process's bit for bit."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..data.dataset import normalize_text
from ..data.formats import TextRecord
from ..data.images import ImageSource
from ..data.io import BadRecords
from ..errors import InputError, ZhclipError
from ..io import write_jsonl
from ..models import ClipModel

DECODE_THREADS = 4

T = TypeVar("T")


class RankFailedError(ZhclipError):
    """Another rank failed with an error that could not be sent as itself; the message is its text."""


@dataclass(frozen=True)
class Shard:
    """This process's part of a feature extraction: rank `rank` of `world_size` (1: one process does all)."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def of_process_group(cls) -> Shard:
        """The shard of this process in the initialised torch.distributed group, else the whole."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def part(self, items: Sequence[T], batch_size: int) -> Sequence[T]:
        """This rank's contiguous block of whole batches of `items` (batch boundaries as in one process)."""
        batches = -(-len(items) // batch_size)
        first, last = (batches * r // self.world_size for r in (self.rank, self.rank + 1))
        return items[first * batch_size : last * batch_size]

    def gather(self, work: Callable[[], T]) -> list[T]:
        """Run `work` here; every rank's result in rank order. If any rank raised, every rank raises that
        rank's error (the lowest failing rank's), so none waits for a rank that failed."""
        outcome = _outcome(work)
        if self.world_size == 1:
            return [_unwrap(outcome)]
        outcomes: list = [None] * self.world_size
        dist.all_gather_object(outcomes, outcome)
        return [_unwrap(o) for o in outcomes]

    def on_main(self, work: Callable[[], T]) -> T:
        """Run `work` on rank 0 only; every rank returns its result (or raises its error)."""
        outcome = _outcome(work) if self.is_main else None
        if self.world_size > 1:
            box = [outcome]
            dist.broadcast_object_list(box, src=0)
            outcome = box[0]
        return _unwrap(outcome)


def _outcome(work: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    try:
        return work(), None
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RankFailedError(f"{type(exc).__name__}: {exc}")
        return None, exc


def _unwrap(outcome: tuple[T | None, BaseException | None]) -> T:
    value, error = outcome
    if error is not None:
        raise error
    return value


@dataclass
class EncodedItems:
    ids: np.ndarray  # int64, one per row
    vectors: np.ndarray  # float32 (rows, dim), L2-normalised
    seconds: float
    per_rank: list[int] = field(default_factory=list)  # rows each rank encoded (one entry per process)

    def __post_init__(self) -> None:
        self.per_rank = self.per_rank or [len(self.ids)]

    @property
    def per_second(self) -> float:
        return len(self.ids) / self.seconds if self.seconds > 0 else float("nan")


def image_features(
    model: ClipModel,
    images: ImageSource,
    batch_size: int = 64,
    bad: BadRecords | None = None,
    progress: bool = False,
    shard: Shard | None = None,
) -> EncodedItems:
    """Encode every image of the source in its own order (this rank's share under `shard`, gathered on every
    rank). Decoding and resizing run in a thread pool, one batch ahead of the model. An image that does not
    decode is a bad record (raised, or skipped and counted on every rank)."""
    bad, shard = bad or BadRecords(), shard or Shard()
    ids = shard.part([int(i) for i in images.ids], batch_size)
    return _sharded(shard, bad, lambda: _encode_images(model, images, ids, batch_size, bad, progress))


def _sharded(shard: Shard, bad: BadRecords, encode: Callable[[], EncodedItems]) -> EncodedItems:
    """Every rank's `encode()` joined in rank order; `bad` then holds the bad records of all ranks."""
    start, known = time.perf_counter(), len(bad.errors)

    def work() -> tuple[EncodedItems, list[InputError]]:
        return encode(), bad.errors[known:]

    parts = shard.gather(work)
    bad.errors[known:] = [error for _, errors in parts for error in errors]
    features = [f for f, _ in parts]
    return EncodedItems(
        np.concatenate([f.ids for f in features]),
        np.concatenate([f.vectors for f in features]),
        time.perf_counter() - start,
        [len(f.ids) for f in features],
    )


def _encode_images(
    model: ClipModel, images: ImageSource, ids: Sequence[int], batch_size: int, bad: BadRecords, progress: bool
) -> EncodedItems:
    start = time.perf_counter()
    kept, vectors = [], []
    bar = tqdm(total=len(ids), desc="image features", unit="img", disable=not progress)
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        for batch_ids, pixels in _pixel_batches(model, images, ids, batch_size, bad, pool):
            if batch_ids:
                kept.extend(batch_ids)
                vectors.append(model.encode_pixels(torch.stack(pixels)))
            bar.update(len(pixels))
    bar.close()
    return _features(kept, vectors, model.embed_dim, time.perf_counter() - start)


def _pixel_batches(
    model: ClipModel,
    images: ImageSource,
    ids: Sequence[int],
    batch_size: int,
    bad: BadRecords,
    pool: ThreadPoolExecutor,
) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
    def prepare(image_id: int) -> torch.Tensor | InputError:
        try:
            return model.transform(images.load(image_id))
        except InputError as exc:
            return exc

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
    model: ClipModel,
    texts: Sequence[TextRecord],
    batch_size: int = 64,
    progress: bool = False,
    shard: Shard | None = None,
) -> EncodedItems:
    """Encode texts with Chinese-CLIP's text preprocessing, in the given order (this rank's share under
    `shard`, gathered on every rank)."""
    shard = shard or Shard()
    part = shard.part(texts, batch_size)
    return _sharded(shard, BadRecords(), lambda: _encode_texts(model, part, batch_size, progress))


def _encode_texts(model: ClipModel, texts: Sequence[TextRecord], batch_size: int, progress: bool) -> EncodedItems:
    start = time.perf_counter()
    vectors = []
    bar = tqdm(total=len(texts), desc="text features", unit="text", disable=not progress)
    for begin in range(0, len(texts), batch_size):
        chunk = [normalize_text(r.text) for r in texts[begin : begin + batch_size]]
        vectors.append(model.encode_ids(model.tokenizer(chunk)))
        bar.update(len(chunk))
    bar.close()
    return _features([r.text_id for r in texts], vectors, model.embed_dim, time.perf_counter() - start)


def _features(ids: list[int], vectors: list[np.ndarray], dim: int, seconds: float) -> EncodedItems:
    stacked = np.concatenate(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    return EncodedItems(np.array(ids, dtype=np.int64), stacked.astype(np.float32, copy=False), seconds)


def write_features(out: str | Path, key: str, features: EncodedItems) -> int:
    """`key` is "image_id" or "text_id"."""
    rows = ({key: int(i), "feature": v.tolist()} for i, v in zip(features.ids, features.vectors, strict=True))
    return write_jsonl(out, rows)
