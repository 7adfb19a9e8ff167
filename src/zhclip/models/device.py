"""Devices: `auto` takes CUDA, else Apple's MPS (Metal), else the CPU; and the precisions each device offers.

MPS runs fp32 and fp16, and bf16 from macOS 14 on; int8 (dynamic quantization) stays a CPU precision."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..errors import UnsupportedError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEVICE_HELP = "use auto, cpu, cuda[:N] or mps"


def resolve_device(device: str) -> torch.device:
    """The torch device for a zhclip device string; UnsupportedError for one this machine lacks."""
    import torch

    if device == "auto":
        return auto_device()
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UnsupportedError(f"unknown device {device!r}; {DEVICE_HELP}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedError(f"device {device!r} requested but CUDA is not available here; use cpu")
    if dev.type == "mps" and not mps_available():
        raise UnsupportedError(f"device {device!r} requested but {mps_unavailable_reason()}; use cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise UnsupportedError(f"device {device!r} is not supported; {DEVICE_HELP}")
    return dev


def auto_device() -> torch.device:
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps_available():
        return torch.device("mps")
    if torch.backends.mps.is_built():
        log.info("device auto: %s, so the CPU runs the model", mps_unavailable_reason())
    return torch.device("cpu")


def mps_available() -> bool:
    import torch

    return torch.backends.mps.is_available()


def mps_unavailable_reason() -> str:
    import torch

    if not torch.backends.mps.is_built():
        return "this PyTorch build has no MPS (Apple Metal) support"
    return "MPS is not available (it needs macOS 12.3+ on Apple silicon or an AMD GPU)"


def device_type(device: torch.device | str) -> str:
    """ "cpu", "cuda" or "mps" of a torch device or of the "cpu" a runtime opened without PyTorch reports."""
    return getattr(device, "type", str(device).partition(":")[0])


def supported_precisions(device: torch.device) -> list[str]:
    import torch

    if device.type == "cuda":
        return ["fp32", "fp16", *(["bf16"] if torch.cuda.is_bf16_supported() else [])]
    if device.type == "mps":
        return ["fp32", "fp16", *(["bf16"] if torch.backends.mps.is_macos_or_newer(14, 0) else [])]
    return ["fp32", "bf16", "int8"]
