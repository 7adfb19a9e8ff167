"""The PyTorch runtime: a `ClipNetwork` cast to fp32/bf16/fp16, or dynamically quantized to int8 on the CPU."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.factory import Weights, build_network
from ..models.network import ClipNetwork
from ..models.precision import supported_precisions, torch_dtype
from ..models.tokenizer import Tokenizer
from .quantize import quantize_int8


class TorchRuntime:
    name = "torch"

    def __init__(self, network: ClipNetwork, device: torch.device, tokenizer: Tokenizer, source: str = ""):
        self.network = network
        self.config = network.config
        self.device = device
        self.tokenizer = tokenizer
        self.source = source
        self.where = f"on {device.type}"

    @classmethod
    def from_weights(cls, weights: Weights, device: torch.device) -> TorchRuntime:
        tokenizer = Tokenizer(weights.vocab, weights.config.context_length)
        return cls(build_network(weights), device, tokenizer, weights.source)

    def precisions(self) -> list[str]:
        return supported_precisions(self.device)

    def encoder(self, precision: str) -> nn.Module:
        return apply_precision(self.network, precision, self.device)

    def trial_encoder(self, precision: str) -> nn.Module:
        return apply_precision(copy.deepcopy(self.network).eval(), precision, self.device)


def apply_precision(network: nn.Module, precision: str, device: torch.device) -> nn.Module:
    """The network on `device` in `precision` (a quantized copy for int8)."""
    network = network.to(device=device, dtype=torch_dtype(precision))
    return quantize_int8(network) if precision == "int8" else network
