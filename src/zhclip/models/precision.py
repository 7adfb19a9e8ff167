"""Numeric precision of the PyTorch path: which ones this device supports and how to apply them.

`fp32`, `bf16`, `fp16` (GPU) cast the weights; `int8` (CPU) quantizes the Linear layers dynamically;
`auto` is the fastest supported precision whose embeddings stay within the fidelity bar, chosen from a
measurement cached per machine and architecture (see `zhclip.compress.autoselect`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UnsupportedError

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
PRECISION_CHOICES = (*PRECISIONS, "auto")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UnsupportedError(f"unknown device {device!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedError(f"device {device!r} requested but CUDA is not available here; use cpu")
    return dev


def supported_precisions(device: torch.device) -> list[str]:
    if device.type == "cuda":
        return ["fp32", "fp16", *(["bf16"] if torch.cuda.is_bf16_supported() else [])]
    return ["fp32", "bf16", "int8"]


def check_precision(precision: str, supported: list[str], where: str) -> str:
    if precision not in supported and precision != "auto":
        raise UnsupportedError(
            f"precision {precision!r} is not supported {where}; supported here: {', '.join([*supported, 'auto'])}"
        )
    return precision


def resolve_precision(precision: str, device: torch.device, network: nn.Module | None = None) -> str:
    """A concrete precision. `auto` measures copies of `network` (once per machine and architecture)."""
    check_precision(precision, supported_precisions(device), f"on {device.type}")
    if precision != "auto":
        return precision
    if network is None:
        return "fp16" if device.type == "cuda" else "fp32"
    from ..compress.autoselect import auto_precision

    return auto_precision(network, device)


def torch_dtype(precision: str) -> torch.dtype:
    """Floating dtype of the weights (int8 keeps fp32 for everything it does not quantize)."""
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}[precision]


def apply_precision(network: nn.Module, precision: str, device: torch.device) -> nn.Module:
    """The network on `device` in `precision` (a quantized copy for int8)."""
    network = network.to(device=device, dtype=torch_dtype(precision))
    if precision != "int8":
        return network
    from ..compress.quantize import quantize_int8

    return quantize_int8(network)
