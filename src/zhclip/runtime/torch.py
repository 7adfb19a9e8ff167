"""The PyTorch runtime: a `ClipNetwork` cast to fp32/bf16/fp16, or dynamically quantized to int8 on the CPU."""

from __future__ import annotations

import copy
from functools import cached_property

import torch
from torch import nn

from ..models.device import supported_precisions
from ..models.factory import Weights, build_network
from ..models.model import fingerprint
from ..models.network import ClipNetwork, QuickGELU
from ..models.precision import torch_dtype
from ..models.tokenizer import Tokenizer
from .base import runtime_name
from .cache import remember_source, weights_digest
from .quantize import quantize_int8


class TorchRuntime:
    kind = "torch"
    name = runtime_name("torch")

    def __init__(self, network: ClipNetwork, device: torch.device, tokenizer: Tokenizer, source: str = ""):
        self.network = network
        self.config = network.config
        self.device = device
        self.tokenizer = tokenizer
        self.source = source
        self.where = f"on {device.type}"
        self.fingerprint = fingerprint(network)

    @classmethod
    def from_weights(cls, weights: Weights, device: torch.device) -> TorchRuntime:
        tokenizer = Tokenizer(weights.vocab, weights.config.context_length)
        return cls(build_network(weights), device, tokenizer, weights.source)

    @cached_property
    def weights_key(self) -> str:
        """The conversion cache's key for these weights."""
        key = weights_digest(self.network.state_dict())
        remember_source(self.source, key, self.config.to_dict())
        return key

    def precisions(self) -> list[str]:
        return supported_precisions(self.device)

    def encoder(self, precision: str) -> nn.Module:
        return apply_precision(self.network, precision, self.device)

    def trial_encoder(self, precision: str) -> nn.Module:
        if precision == "fp32":  # leaves the network as it is: no copy (ViT-B-16's is 600 MB)
            return apply_precision(self.network, precision, self.device).eval()
        return apply_precision(copy.deepcopy(self.network).eval(), precision, self.device)


def apply_precision(network: nn.Module, precision: str, device: torch.device) -> nn.Module:
    """The network on `device` in `precision` (a quantized copy for int8); below fp32, QuickGELU folded into SiLU."""
    network = network.to(device=device)
    if precision != "fp32":  # fp32 keeps the checkpoint's exact weights (and conversions stay bit-exact)
        network = fold_quick_gelu(network)
    network = network.to(dtype=torch_dtype(precision))
    return quantize_int8(network) if precision == "int8" else network


QUICK_GELU_SCALE = 1.702


def fold_quick_gelu(network: nn.Module) -> nn.Module:
    """Replace every `Linear -> QuickGELU -> Linear` by `Linear' -> SiLU -> Linear''` in place.

    QuickGELU(x) = x * sigmoid(1.702 x) = SiLU(1.702 x) / 1.702, so scaling the first Linear by 1.702 and the
    second's weight by 1/1.702 leaves the function unchanged and runs one fused SiLU kernel instead of a
    multiply, a sigmoid and another multiply over the MLP's widest activation. The state dict still holds
    the checkpoint's (unscaled) weights, so saving a loaded model's network gives a loadable checkpoint."""
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.Sequential) and isinstance(getattr(module, "gelu", None), QuickGELU):
                _scale_mlp(module.c_fc.weight, module.c_fc.bias, module.c_proj.weight, QUICK_GELU_SCALE)
                module.gelu = nn.SiLU()
                module._register_state_dict_hook(_unfold_on_save)
    return network


def _scale_mlp(fc_weight: torch.Tensor, fc_bias: torch.Tensor, proj_weight: torch.Tensor, scale: float) -> None:
    fc_weight.mul_(scale)
    fc_bias.mul_(scale)
    proj_weight.div_(scale)


def _unfold_on_save(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    names = [f"{prefix}c_fc.weight", f"{prefix}c_fc.bias", f"{prefix}c_proj.weight"]
    if all(torch.is_tensor(state_dict.get(name)) for name in names):  # int8 keeps its weights packed
        copies = [state_dict[name].clone() for name in names]
        _scale_mlp(*copies, 1 / QUICK_GELU_SCALE)
        state_dict.update(zip(names, copies, strict=True))
