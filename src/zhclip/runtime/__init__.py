"""Runtimes behind one `Encoder` protocol (PyTorch, ONNX Runtime), the automatic precision choice, and
`load`, which picks the runtime for a source."""

from .base import Runtime, open_model
from .load import load, open_runtime

__all__ = ["Runtime", "load", "open_model", "open_runtime"]
