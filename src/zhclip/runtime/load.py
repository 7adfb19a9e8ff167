"""`zhclip.load`: the one place that chooses the runtime for a source and opens a `ClipModel` on it."""

from __future__ import annotations

from pathlib import Path

from ..models.config import ClipConfig
from ..models.factory import read_weights
from ..models.model import ClipModel
from ..models.precision import resolve_device
from .auto import choose_precision
from .base import ChoosePrecision, Runtime, open_model
from .onnx import OnnxRuntime, is_export_dir
from .torch import TorchRuntime


def load(
    source: str | Path,
    device: str = "auto",
    precision: str = "fp32",
    arch: str | ClipConfig | None = None,
    choose: ChoosePrecision = choose_precision,
) -> ClipModel:
    """Load a Chinese-CLIP model from any supported source. See the README for the accepted forms."""
    return open_model(open_runtime(source, device, arch), precision, choose)


def open_runtime(source: str | Path, device: str = "auto", arch: str | ClipConfig | None = None) -> Runtime:
    """ONNX Runtime for a `zhclip export onnx` directory; PyTorch for every checkpoint form."""
    if is_export_dir(source):
        return OnnxRuntime(Path(source).expanduser(), device)
    dev = resolve_device(device)
    return TorchRuntime.from_weights(read_weights(source, arch), dev)
