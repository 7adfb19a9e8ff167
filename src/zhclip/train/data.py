"""Training data order: one deterministic permutation per epoch, cut into global steps, sliced per rank.

A step's global batch (batch_size x accum_freq x world_size pairs) is the same set, in the same order,
whatever the world size, so a torchrun run and a single-process run see identical batches, and
`(epoch, step_in_epoch)` is all a checkpoint needs to continue the data stream exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import InputError
from ..models.tokenizer import Tokenizer
from ..models.transform import ImageTransform
from .distributed import DistEnv


class StepSampler(Sampler[list[int]]):
    """Yields this rank's indices for each step of one epoch, from `start_step` on."""

    def __init__(self, size: int, global_batch: int, env: DistEnv, seed: int, epoch: int, start_step: int = 0):
        self.size, self.global_batch, self.env = size, global_batch, env
        self.seed, self.epoch, self.start_step = seed, epoch, start_step

    @property
    def steps_per_epoch(self) -> int:
        return self.size // self.global_batch

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch - self.start_step)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        per_rank = self.global_batch // self.env.world_size
        for step in range(self.start_step, self.steps_per_epoch):
            chunk = order[step * self.global_batch : (step + 1) * self.global_batch]
            yield chunk[self.env.rank * per_rank : (self.env.rank + 1) * per_rank].tolist()


def open_pairs(data: Path, split: str, image_size: int, tokenizer: Tokenizer, skip_bad: bool) -> Dataset:
    """The split's image-text pairs; an InputError if it has none."""
    from ..data.dataset import PairDataset

    dataset = PairDataset(data, split, ImageTransform(image_size), tokenizer, skip_bad=skip_bad)
    if len(dataset) == 0:
        raise InputError(data, f"split {split!r} has no valid image-text pairs", field="--data")
    return dataset


def check_size(dataset: Dataset, global_batch: int, data: Path, split: str) -> None:
    if len(dataset) < global_batch:
        raise InputError(
            data,
            f"split {split!r} has {len(dataset)} pairs, fewer than one step's global batch "
            f"of {global_batch} (batch size x accum freq x processes); lower --batch-size",
            field="--batch-size",
        )


def check_shared_ids(dataset, data: Path, split: str) -> None:
    """`--multi-positive` needs pairs that share an image id or a text id; InputError when none do."""
    pairs = dataset.pairs
    if hasattr(pairs, "image_ids"):
        image_ids, text_ids = pairs.image_ids.tolist(), pairs.text_ids.tolist()
    else:
        image_ids, text_ids = zip(*(pairs[i][:2] for i in range(len(pairs))), strict=True)
    if len(set(image_ids)) == len(image_ids) and len(set(text_ids)) == len(text_ids):
        raise InputError(
            data,
            f"--multi-positive needs pairs that share an image id or a text id; the {len(image_ids)} pairs of "
            f"split {split!r} all have their own, so every batch would have only the diagonal positives",
            field="--multi-positive",
        )


def loader(dataset: Dataset, sampler: StepSampler, workers: int) -> DataLoader:
    # A private generator seeds the workers, so loading never draws from the global RNG (exact resume).
    generator = torch.Generator().manual_seed(sampler.seed * 7919 + sampler.epoch)
    return DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, generator=generator, persistent_workers=False
    )


def micro_batches(batch: dict, count: int) -> list[dict]:
    """Split a step's batch into `count` equal micro-batches (gradient accumulation)."""
    parts = {k: v.chunk(count) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    return [{k: v[i] for k, v in parts.items()} for i in range(count)]


def augment(pixels: torch.Tensor, min_area: float = 0.8) -> torch.Tensor:
    """Random square crops covering `min_area`..1 of each image, resized back.

    No flips: captions say 左边/右边."""
    n = pixels.shape[0]
    side = torch.empty(n).uniform_(min_area, 1.0).sqrt()
    shift = (torch.rand(n, 2) * 2 - 1) * (1 - side)[:, None]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = side
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta.to(pixels), list(pixels.shape), align_corners=False)
    return F.grid_sample(pixels, grid, mode="bilinear", align_corners=False)
