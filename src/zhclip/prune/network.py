"""Structured pruning: drop the least important attention heads and MLP neurons of every layer in both
towers, leaving a smaller dense network (per-layer sizes in `layer_heads` / `layer_mlp_dims`).

Importance is measured on a calibration batch, without labels: a head's or a neuron's score is how much
it adds to the residual stream, i.e. the mean norm over tokens of its slice of the output projection
(`x_g @ W[:, g].T`). Each layer keeps `1 - ratio` of its heads (at least one) and of its MLP neurons
(a multiple of 8), so every layer shrinks alike and speed follows the FLOPs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InputError
from ..models.config import ClipConfig
from ..models.network import ClipNetwork
from ..runtime.calibration import Batch

CALIBRATION_BATCH = 8


@dataclass(frozen=True)
class Slot:
    """One prunable group family in one layer: the output projection whose input columns are the groups,
    and the parameters whose rows are the groups (`stacked` for q/k/v held in one tensor)."""

    out_proj: str
    rows: tuple[str, ...]
    group: int  # columns per group: head width for heads, 1 for MLP neurons
    stacked: int = 1


def layer_slots(config: ClipConfig) -> Iterator[tuple[str, int, str, Slot]]:
    """(tower, layer, kind, slot) for every layer; kind is "heads" or "mlp"; keys relative to the layer."""
    v, t = config.vision, config.text
    for i in range(v.layers):
        yield (
            "vision",
            i,
            "heads",
            Slot("attn.out_proj", ("attn.in_proj_weight", "attn.in_proj_bias"), v.head_width, stacked=3),
        )
        yield "vision", i, "mlp", Slot("mlp.c_proj", ("mlp.c_fc.weight", "mlp.c_fc.bias"), 1)
    qkv = tuple(f"attention.self.{p}.{k}" for p in ("query", "key", "value") for k in ("weight", "bias"))
    for i in range(t.layers):
        yield "text", i, "heads", Slot("attention.output.dense", qkv, t.head_dim)
        yield "text", i, "mlp", Slot("output.dense", ("intermediate.dense.weight", "intermediate.dense.bias"), 1)


def layer_prefix(tower: str, layer: int) -> str:
    return f"visual.transformer.resblocks.{layer}." if tower == "vision" else f"bert.encoder.layer.{layer}."


# ---------------------------------------------------------------- importance


def importance(network: ClipNetwork, calibration: Batch) -> dict[tuple[str, int, str], torch.Tensor]:
    """Score of every head and neuron, keyed like `layer_slots` (tower, layer, kind)."""
    network = network.eval()
    scores = _Scores()
    hooks = [
        network.get_submodule(layer_prefix(tower, layer) + slot.out_proj).register_forward_pre_hook(
            scores.hook((tower, layer, kind), slot.group)
        )
        for tower, layer, kind, slot in layer_slots(network.config)
    ]
    try:
        with torch.no_grad():
            for chunk in calibration.chunks(CALIBRATION_BATCH):
                scores.valid = None
                network.encode_image(chunk.pixels)
                scores.valid = (chunk.ids != 0).reshape(-1)
                network.encode_text(chunk.ids)
    finally:
        for hook in hooks:
            hook.remove()
    return scores.totals


class _Scores:
    """Accumulates group contributions from forward pre-hooks on the output projections."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, int, str], torch.Tensor] = {}
        self.valid: torch.Tensor | None = None  # real (non-padding) text tokens of the current batch

    def hook(self, key: tuple[str, int, str], group: int):
        def record(module: nn.Linear, inputs: tuple[torch.Tensor]) -> None:
            x = inputs[0].reshape(-1, inputs[0].shape[-1]).float()
            if self.valid is not None and len(x) == len(self.valid):  # (the last layer's [CLS] rows are all real)
                x = x[self.valid]
            self.totals[key] = self.totals.get(key, 0) + group_contribution(x, module.weight.float(), group)

        return record


def group_contribution(x: torch.Tensor, weight: torch.Tensor, group: int) -> torch.Tensor:
    """Sum over rows of x of ||x_g @ W[:, g].T|| for each column group g of width `group`."""
    if group == 1:
        return x.abs().sum(0) * weight.norm(dim=0)
    n, out = x.shape[0], weight.shape[0]
    per_group = torch.einsum("ngd,ogd->ngo", x.view(n, -1, group), weight.view(out, -1, group))
    return per_group.norm(dim=-1).sum(0)


# ---------------------------------------------------------------- pruning


def kept_count(total: int, ratio: float, kind: str) -> int:
    keep = total * (1 - ratio)
    return max(1, round(keep)) if kind == "heads" else max(8, round(keep / 8) * 8)


def prune_network(network: ClipNetwork, calibration: Batch, ratio: float) -> ClipNetwork:
    """A smaller dense copy of `network` without the `ratio` least important heads and neurons per layer."""
    if not 0 < ratio < 1:
        raise InputError(None, f"the pruning ratio must be between 0 and 1 (exclusive), got {ratio}", field="--ratio")
    scores = importance(network, calibration)
    state = {k: v.clone() for k, v in network.state_dict().items()}
    config = copy.deepcopy(network.config)
    sizes: dict[tuple[str, str], list[int]] = {}
    for tower, layer, kind, slot in layer_slots(network.config):
        score = scores[(tower, layer, kind)]
        keep = score.topk(min(len(score), kept_count(len(score), ratio, kind))).indices.sort().values
        _keep_groups(state, layer_prefix(tower, layer), slot, keep)
        sizes.setdefault((tower, kind), []).append(len(keep))
    for tower, cfg in (("vision", config.vision), ("text", config.text)):
        cfg.layer_heads, cfg.layer_mlp_dims = sizes[(tower, "heads")], sizes[(tower, "mlp")]
    config.name = f"{network.config.name}-pruned{round(ratio * 100)}"
    pruned = ClipNetwork(config)
    pruned.load_state_dict(state, strict=True)
    return pruned.to(network.dtype)


def _keep_groups(state: dict[str, torch.Tensor], prefix: str, slot: Slot, keep: torch.Tensor) -> None:
    columns = (keep[:, None] * slot.group + torch.arange(slot.group)).reshape(-1)
    inner = state[prefix + slot.out_proj + ".weight"].shape[1]
    rows = torch.cat([part * inner + columns for part in range(slot.stacked)])
    key = prefix + slot.out_proj + ".weight"
    state[key] = state[key][:, columns].contiguous()
    for name in slot.rows:
        state[prefix + name] = state[prefix + name][rows].contiguous()
