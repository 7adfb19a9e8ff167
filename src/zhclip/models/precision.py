"""Numeric precisions: checking a requested one, and their floating dtypes (which a device offers: `device.py`).

Applying a precision to a network (casting, int8 quantization) and choosing one (`auto`) belong to the
runtime layer (`zhclip.runtime`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UnsupportedError

if TYPE_CHECKING:
    import torch


def check_precision(precision: str, supported: list[str], where: str) -> str:
    if precision not in supported and precision != "auto":
        raise UnsupportedError(
            f"precision {precision!r} is not supported {where}; supported here: {', '.join([*supported, 'auto'])}"
        )
    return precision


def torch_dtype(precision: str) -> torch.dtype:
    """Floating dtype of the weights (int8 keeps fp32 for everything it does not quantize)."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}[precision]
