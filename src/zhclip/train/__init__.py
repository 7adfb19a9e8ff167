"""Training and distillation (needs the `data` extra). The model library never imports this package."""

from .api import ModelInit, distill, train
from .config import DistillConfig, OptimConfig, TrainConfig
from .loop import TrainingDivergedError

__all__ = [
    "DistillConfig",
    "ModelInit",
    "OptimConfig",
    "TrainConfig",
    "TrainingDivergedError",
    "distill",
    "train",
]
