"""Training and distillation (needs the `data` extra). The model library never imports this package.

Names are imported on first use: the settings (`config`) load without PyTorch, so the CLI reads its flags'
defaults from them and `zhclip train --help` still answers at once."""

from __future__ import annotations

from ..lazy import lazy_names

_HOMES = {
    "ModelInit": ".api",
    "distill": ".api",
    "train": ".api",
    "DistillConfig": ".config",
    "OptimConfig": ".config",
    "TrainConfig": ".config",
    "TrainingDivergedError": ".loop",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
