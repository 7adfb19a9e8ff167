"""Training objectives: a trainable network plus loss terms; `forward` returns a dict of named losses.

The loop calls, per micro-batch, `targets(batch)` (frozen per-pair targets, e.g. teacher embeddings) and
`features(batch)` (trainable per-pair embeddings); it gathers both across ranks and calls the objective on
the global batch. Anything with parameters that is applied after the gather (the logit scale, projections)
lives in `forward`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..models.network import ClipNetwork
from .distributed import DistEnv
from .losses import clip_loss

Features = dict[str, torch.Tensor]

MAX_LOGIT_SCALE = math.log(100)


class ContrastiveObjective(nn.Module):
    """Symmetric InfoNCE with the network's learnable logit scale."""

    def __init__(self, network: ClipNetwork, weight: float = 1.0):
        super().__init__()
        self.network = network
        self.weight = weight

    def prepare(self, env: DistEnv) -> None:
        """Called once the process group and device are known (the distillation teacher uses it)."""

    def targets(self, batch: dict) -> Features:
        return {}

    def features(self, batch: dict) -> Features:
        return {
            "image": F.normalize(self.network.encode_image(batch["pixels"]), dim=-1),
            "text": F.normalize(self.network.encode_text(batch["ids"]), dim=-1),
        }

    def forward(self, features: Features, targets: Features) -> dict[str, torch.Tensor]:
        return {"contrastive": self.weight * clip_loss(features["image"], features["text"], self.scale())}

    def scale(self) -> torch.Tensor:
        return self.network.logit_scale.exp()

    @torch.no_grad()
    def clamp(self) -> None:
        """Keep the logit scale within [0, ln 100] (called after every optimizer step)."""
        self.network.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
