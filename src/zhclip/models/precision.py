"""Devices and numeric precisions: which precisions a device supports, their floating dtypes.

Applying a precision to a network (casting, int8 quantization) and choosing one (`auto`) belong to the
runtime layer (`zhclip.runtime`)."""

from __future__ import annotations

import torch

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


def torch_dtype(precision: str) -> torch.dtype:
    """Floating dtype of the weights (int8 keeps fp32 for everything it does not quantize)."""
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}[precision]
