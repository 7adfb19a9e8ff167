"""Training checkpoints: Chinese-CLIP `.pt` layout (so its tools read them) plus what exact resume needs."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from ..models.checkpoint import native_state_dict, read_checkpoint_file
from ..models.config import ClipConfig
from ..models.formats import save_cnclip

TRAINING_KEYS = ("optimizer", "scheduler", "rng", "data_position", "run")


@dataclass
class Position:
    """Where the data stream stands: the next step to run is `step_in_epoch` of `epoch` (0-based)."""

    epoch: int = 0
    step_in_epoch: int = 0


@dataclass
class TrainingState:
    step: int
    position: Position
    network: dict[str, torch.Tensor]
    config: ClipConfig
    optimizer: dict
    scheduler: dict
    rng: list[dict]
    objective: dict[str, torch.Tensor] = field(default_factory=dict)
    scaler: dict | None = None
    run: dict = field(default_factory=dict)


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value


def save_training(path: Path, state: TrainingState, name: str) -> Path:
    extra = {
        "optimizer": state.optimizer,
        "scheduler": state.scheduler,
        "rng": state.rng,
        "data_position": {"epoch": state.position.epoch, "step_in_epoch": state.position.step_in_epoch},
        "objective": state.objective,
        "scaler": state.scaler,
        "run": state.run,
    }
    return save_cnclip(
        state.network, state.config, path, epoch=state.position.epoch, step=state.step, name=name, extra=extra
    )


def load_training(path: Path) -> TrainingState:
    """A checkpoint written by `save_training`; CheckpointError if unreadable or not a training checkpoint."""
    raw = read_checkpoint_file(Path(path))
    missing = [k for k in TRAINING_KEYS if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise CheckpointError(
            path,
            f"not a zhclip training checkpoint (no {', '.join(missing)}); "
            "to start a new run from its weights use --model instead of --resume",
        )
    if not isinstance(raw.get("zhclip_config"), dict):
        raise CheckpointError(path, "training checkpoint lacks its architecture (zhclip_config)")
    pos = raw["data_position"]
    return TrainingState(
        step=int(raw["step"]),
        position=Position(int(pos["epoch"]), int(pos["step_in_epoch"])),
        network=native_state_dict(raw, Path(path)),
        config=ClipConfig.from_dict(raw["zhclip_config"]),
        optimizer=raw["optimizer"],
        scheduler=raw["scheduler"],
        rng=raw["rng"],
        objective=raw.get("objective") or {},
        scaler=raw.get("scaler"),
        run=raw["run"],
    )
