"""Numeric precision of the PyTorch path: which ones this device supports and how to apply them."""

from __future__ import annotations

import torch

from ..errors import UnsupportedError

PRECISIONS = ("fp32", "bf16", "fp16")


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
    return ["fp32", "bf16"]


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    supported = supported_precisions(device)
    if precision not in supported:
        raise UnsupportedError(
            f"precision {precision!r} is not supported on {device.type}; supported here: {', '.join(supported)}"
        )
    return precision


def torch_dtype(precision: str) -> torch.dtype:
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
