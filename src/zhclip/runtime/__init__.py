"""Runtimes behind one `Encoder` protocol (PyTorch, ONNX Runtime, OpenVINO), the automatic per-tower choice,
the conversion cache, and `load`, which picks the runtime for a source."""

from .base import Runtime, SplitEncoder, open_model, open_plan
from .loader import RUNTIME_CHOICES, load, load_at_once, open_runtime

__all__ = [
    "RUNTIME_CHOICES",
    "Runtime",
    "SplitEncoder",
    "load",
    "load_at_once",
    "open_model",
    "open_plan",
    "open_runtime",
]
