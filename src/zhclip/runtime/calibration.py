"""Inputs for measuring and pruning: rendered synthetic scenes with their captions, or a dataset split."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..models.tokenizer import Tokenizer
from ..models.transform import ImageTransform


@dataclass
class Batch:
    pixels: torch.Tensor  # (N, 3, S, S), preprocessed
    ids: torch.Tensor  # (N, L) token ids, zero-padded

    def __len__(self) -> int:
        return len(self.pixels)

    def chunks(self, size: int):
        for start in range(0, len(self), size):
            yield Batch(self.pixels[start : start + size], self.ids[start : start + size])


def synthetic_batch(count: int, image_size: int, tokenizer: Tokenizer | None = None, seed: int = 0) -> Batch:
    """`count` rendered scenes of the offline benchmark's generator, each with one of its captions."""
    from ..data.synth.captions import captions_for
    from ..data.synth.render import render_scene
    from ..data.synth.scene import sample_scene

    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(count)]
    images = [render_scene(scene, (image_size, image_size), noise=3.0) for scene in scenes]
    texts = [captions_for(scene, rng, 1)[0] for scene in scenes]
    return _batch(images, texts, image_size, tokenizer)


def with_short_queries(ids: torch.Tensor, length: int = 4, sep_id: int | None = None) -> torch.Tensor:
    """`ids` and, after them, the first `length` tokens of each as a query of its own ([CLS] ... [SEP]): what
    people type into a search box is a few characters, and quantization can treat short texts worse."""
    sep_id = Tokenizer().sep_id if sep_id is None else sep_id
    short = torch.zeros_like(ids)
    short[:, : length + 1] = ids[:, : length + 1]
    short[:, length + 1] = sep_id
    return torch.cat([ids, short])


def dataset_batch(
    data: str | Path, count: int, image_size: int, tokenizer: Tokenizer | None = None, split: str = "train"
) -> Batch:
    """The first `count` images of a Chinese-CLIP layout dataset split, each with its first caption."""
    from ..data import SplitPaths, open_images, read_texts

    images = open_images(data, split)
    captions: dict[int, str] = {}
    for record in read_texts(SplitPaths(Path(data), split).texts_jsonl):
        if record.image_ids and record.image_ids[0] in images:
            captions.setdefault(record.image_ids[0], record.text)
    chosen = list(islice(captions.items(), count))
    if not chosen:
        raise InputError(data, f"split {split!r} has no image with a caption to calibrate on", field="--data")
    return _batch([images.load(i) for i, _ in chosen], [t for _, t in chosen], image_size, tokenizer)


def _batch(images: list, texts: list[str], image_size: int, tokenizer: Tokenizer | None) -> Batch:
    transform = ImageTransform(image_size)
    pixels = torch.stack([transform(image) for image in images])
    return Batch(pixels, (tokenizer or Tokenizer())(texts))
