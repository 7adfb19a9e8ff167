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
from .losses import clip_loss, shared_ids

Features = dict[str, torch.Tensor]

MAX_LOGIT_SCALE = math.log(100)


class ContrastiveObjective(nn.Module):
    """Symmetric InfoNCE with the network's learnable logit scale. With `multi_positive`, every pair of the
    (global) batch that shares the image id or the text id of pair i is a positive of pair i (soft targets)."""

    def __init__(self, network: ClipNetwork, weight: float = 1.0, multi_positive: bool = False):
        super().__init__()
        self.network = network
        self.weight = weight
        self.multi_positive = multi_positive

    def prepare(self, env: DistEnv) -> None:
        """Called once the process group and device are known (the distillation teacher uses it)."""

    def targets(self, batch: dict) -> Features:
        if not self.multi_positive:
            return {}
        return {"image_id": batch["image_id"], "text_id": batch["text_id"]}

    def positives(self, targets: Features) -> torch.Tensor | None:
        """(N, N) bool: image i and text j belong together (None: only the diagonal)."""
        if not self.multi_positive:
            return None
        return shared_ids(targets["image_id"], targets["text_id"])

    def features(self, batch: dict) -> Features:
        return {
            "image": F.normalize(self.network.encode_image(batch["pixels"]), dim=-1),
            "text": F.normalize(self.network.encode_text(batch["ids"]), dim=-1),
        }

    def forward(self, features: Features, targets: Features) -> dict[str, torch.Tensor]:
        loss = clip_loss(features["image"], features["text"], self.scale(), self.positives(targets))
        return {"contrastive": self.weight * loss}

    def scale(self) -> torch.Tensor:
        return self.network.logit_scale.exp()

    @torch.no_grad()
    def clamp(self) -> None:
        """Keep the logit scale within [0, ln 100] (called after every optimizer step)."""
        self.network.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
