"""INT8 on the PyTorch path: dynamic quantization (int8 weights, activations quantized per batch) of every
Linear layer, including the vision tower's fused q/k/v projection."""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from ..models.network import FusedSelfAttention, attend


class LinearInProjAttention(nn.Module):
    """`FusedSelfAttention` with its stacked q/k/v weight held by an `nn.Linear`, so quantization sees it."""

    def __init__(self, attn: FusedSelfAttention):
        super().__init__()
        self.heads = attn.heads
        out_features, in_features = attn.in_proj_weight.shape
        self.in_proj = nn.Linear(in_features, out_features, device=attn.in_proj_weight.device)
        self.in_proj.weight = attn.in_proj_weight
        self.in_proj.bias = attn.in_proj_bias
        self.out_proj = attn.out_proj

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        return self.out_proj(attend(q[:, :queries], k, v, None, self.heads))


def quantize_int8(network: nn.Module) -> nn.Module:
    """A dynamically quantized copy of an fp32 CPU network (`torch.ao`; fbgemm kernels on x86)."""
    network = copy.deepcopy(network).eval()
    for module in list(network.modules()):
        for name, child in module.named_children():
            if isinstance(child, FusedSelfAttention):
                setattr(module, name, LinearInProjAttention(child))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao, still works
        # in place on the copy above: a second copy of ViT-B-16's fp32 weights would cost 600 MB more
        return torch.ao.quantization.quantize_dynamic(network, {nn.Linear}, dtype=torch.qint8, inplace=True)
