"""One optimisation step's gradients: autocast precision and gradient accumulation that keeps all negatives.

With `accum_freq` K > 1 the step's batch is split into K micro-batches (the GradCache scheme, which is what
open_clip's accumulation approximates): (1) embed every micro-batch without gradient; (2) compute the losses
on all embeddings at once, so every pair sees the full step's negatives, and backpropagate to the embeddings
(and to parameters used after embedding: logit scale, projections); (3) re-embed each micro-batch with
gradient — replaying its dropout RNG — and backpropagate the cached embedding gradients. The result equals
the gradient of one big batch, with the activation memory of one micro-batch.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from .data import micro_batches
from .distributed import DistEnv, gather
from .objectives import ContrastiveObjective, Features


class Precision:
    """fp32; bf16 autocast; amp = fp16 autocast with a gradient scaler."""

    def __init__(self, name: str, device: torch.device):
        self.name = name
        self.device = device
        self.scaler = torch.amp.GradScaler(device.type) if name == "amp" else None

    def autocast(self):
        if self.name == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.name == "bf16" else torch.float16)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()


def compute_gradients(
    objective: ContrastiveObjective, batch: dict, accum_freq: int, env: DistEnv, precision: Precision
) -> dict[str, torch.Tensor]:
    """Accumulate the step's gradients into the parameters; return the (detached) named losses and total."""
    parts = micro_batches(batch, accum_freq)
    with torch.no_grad(), precision.autocast():
        targets = _gathered(_concat([objective.targets(p) for p in parts]), env)
    if accum_freq == 1:
        with precision.autocast():
            losses = objective(_gathered(objective.features(parts[0]), env), targets)
        total = sum(losses.values())
        precision.backward(total)
    else:
        losses, total = _cached_step(objective, parts, targets, env, precision)
    return {**{k: v.detach() for k, v in losses.items()}, "total": total.detach()}


@torch.no_grad()
def probe_loss(objective: ContrastiveObjective, batch: dict, env: DistEnv, precision: Precision) -> torch.Tensor:
    """The total loss of the current weights on `batch`, in eval mode (no dropout, so no RNG is drawn)."""
    objective.eval()
    try:
        with precision.autocast():
            targets = _gathered(objective.targets(batch), env)
            return sum(objective(_gathered(objective.features(batch), env), targets).values())
    finally:
        objective.train()


def _cached_step(
    objective: ContrastiveObjective, parts: list[dict], targets: Features, env: DistEnv, precision: Precision
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    rng, cached = [], []
    with torch.no_grad(), precision.autocast():
        for part in parts:
            rng.append(_rng_state(env.device))
            cached.append(objective.features(part))
    after = _rng_state(env.device)
    leaves = {k: v.detach().requires_grad_() for k, v in _concat(cached).items()}
    with precision.autocast():
        losses = objective(_gathered(leaves, env), targets)
    total = sum(losses.values())
    precision.backward(total)
    offset = 0
    for part, state in zip(parts, rng, strict=True):
        _set_rng_state(env.device, state)
        with precision.autocast():
            features = objective.features(part)
        rows = next(iter(features.values())).shape[0]
        pairs = [(f, leaves[k].grad[offset : offset + rows]) for k, f in features.items() if f.requires_grad]
        torch.autograd.backward([f for f, _ in pairs], [g for _, g in pairs])
        offset += rows
    _set_rng_state(env.device, after)
    return losses, total


def _concat(features: list[Features]) -> Features:
    return {k: torch.cat([f[k] for f in features]) for k in features[0]} if features and features[0] else {}


def _gathered(features: Features, env: DistEnv) -> Features:
    return {k: gather(v, env) for k, v in features.items()}


def _rng_state(device: torch.device) -> tuple:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(device: torch.device, state: tuple) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)
