"""AdamW with the usual CLIP exclusions from weight decay, and a cosine schedule with linear warmup."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from .config import OptimConfig

_NO_DECAY_NAMES = ("logit_scale", "embedding")


def no_decay(name: str, param: nn.Parameter) -> bool:
    """Norms, biases, the logit scale and embedding tables (class, positional, word, token type): no decay."""
    return param.ndim < 2 or any(part in name for part in _NO_DECAY_NAMES)


def build_optimizer(module: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not no_decay(n, p)], "weight_decay": cfg.wd},
        {"params": [p for n, p in named if no_decay(n, p)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


def cosine_factor(step: int, warmup: int, total: int) -> float:
    """LR factor at `step` (0-based): linear warmup to 1 over `warmup` steps, then cosine to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_scheduler(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: cosine_factor(step, warmup, total))
