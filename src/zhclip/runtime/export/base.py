"""What every mobile target shares: the tower inputs it is traced with, its converter check, and the
`Target` record each runtime module fills in (what it can take, how it converts, how it runs here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...extras import require
from ...models.config import ClipConfig
from ...models.network import ClipNetwork

TARGET_NAMES = ("executorch", "mnn", "coreml")
TOWERS = ("image", "text")
PRECISIONS = ("fp32", "fp16", "int8")
INPUT_NAMES = {"image": "pixels", "text": "ids"}
OUTPUT_NAME = "features"
MAX_BATCH = 64  # upper bound of a dynamic batch axis (ExecuTorch and Core ML need one)


@dataclass(frozen=True)
class TowerSpec:
    """One tower's input as written into a file: a fixed `batch`, or None for a dynamic batch axis."""

    tower: str
    config: ClipConfig
    batch: int | None
    ids_dtype: str = "int64"

    @property
    def input_name(self) -> str:
        return INPUT_NAMES[self.tower]

    @property
    def dtype(self) -> str:
        return "float32" if self.tower == "image" else self.ids_dtype

    @property
    def shape(self) -> list[int | None]:
        """The input shape, None where the batch is dynamic."""
        if self.tower == "image":
            size = self.config.vision.image_size
            return [self.batch, 3, size, size]
        return [self.batch, self.config.context_length]

    def example(self, batch: int = 2) -> torch.Tensor:
        """A traced example; ids start with [CLS] (101), end with [SEP] (102) and are zero-padded, as real ones."""
        rows = self.batch or batch
        if self.tower == "image":
            return torch.randn(rows, *self.shape[1:])
        ids = torch.zeros(rows, self.config.context_length, dtype=torch.int64)
        ids[:, :4] = torch.tensor([101, 2769, 4263, 102])
        return ids


@dataclass(frozen=True)
class Target:
    """A runtime: its converter package (and the zhclip extra that brings it), file suffix, the precisions it
    takes, towers whose batch its files fix, and how to convert and (where it can) run a tower here."""

    name: str
    package: str
    extra: str
    suffix: str
    convert: Callable[[ClipNetwork, TowerSpec, str, Path], None]
    run: Callable[[Path, TowerSpec, np.ndarray], np.ndarray] | None  # None: cannot run on this machine
    precisions: tuple[str, ...] = PRECISIONS
    fixed_batch_towers: tuple[str, ...] = ()
    ids_dtype: str = "int64"
    batch_limit: int | None = MAX_BATCH  # the most a dynamic batch axis takes; None: unbounded
    max_tower_bytes: float | None = None  # fp32 weights of one tower the converter path can take
    why_limit: str = ""
    not_run: str = ""  # why exports are checked but not run here

    def require(self) -> None:
        """Import the converter, or raise MissingExtraError naming the extra (a broken install counts as missing)."""
        require(self.extra, self.package)

    def spec(self, tower: str, config: ClipConfig, batch: int) -> TowerSpec:
        fixed = batch if tower in self.fixed_batch_towers else None
        return TowerSpec(tower, config, fixed, self.ids_dtype)


def tower_bytes(network: ClipNetwork, tower: str) -> int:
    module = network.visual if tower == "image" else network.bert
    return sum(p.numel() * 4 for p in module.parameters())
