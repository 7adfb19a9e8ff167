"""The ONNX Runtime runtime: the towers of a `zhclip export onnx` directory as ONNX Runtime sessions.

This module imports onnxruntime only when a session is made, so the loader can ask `is_export_dir`
about any source cheaply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CheckpointError, UnsupportedError
from ..extras import require
from ..models.config import ClipConfig
from ..models.device import device_type, resolve_device
from ..models.tokenizer import Tokenizer
from .base import runtime_name
from .plans import TOWERS

if TYPE_CHECKING:
    import torch

MANIFEST = "zhclip_onnx.json"
ONNX_PRECISIONS = ("fp32", "fp16", "int8")
INPUT_NAMES = {"image": "pixels", "text": "ids"}


def tower_file(tower: str, precision: str) -> str:
    return f"{tower}.{precision}.onnx"


def is_export_dir(source: str | Path) -> bool:
    return (Path(source).expanduser() / MANIFEST).is_file()


class ArrayEncoder:
    """An `Encoder` whose towers run numpy arrays (ONNX Runtime, OpenVINO): the torch methods convert, and a
    ClipModel calls `encode_text_array` directly, so text needs no PyTorch. Subclasses run a tower in `run`."""

    def __init__(self, config: ClipConfig, logit_scale: float):
        self.config = config
        self.logit_scale_value = float(logit_scale)

    @property
    def logit_scale(self) -> torch.Tensor:
        import torch

        return torch.tensor(self.logit_scale_value)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.run("image", pixels.float().numpy()))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.encode_text_array(ids.long().numpy()))

    def encode_text_array(self, ids: np.ndarray) -> np.ndarray:
        return self.run("text", ids)

    def encode_image_array(self, pixels: np.ndarray) -> np.ndarray:
        return self.run("image", np.ascontiguousarray(pixels, dtype=np.float32))

    def run(self, tower: str, array: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxEncoder(ArrayEncoder):
    """The `Encoder` of a ClipModel whose towers are ONNX Runtime sessions."""

    def __init__(self, config: ClipConfig, files: dict[str, Path], providers: list[str], logit_scale: float):
        super().__init__(config, logit_scale)
        self.files = files  # tower -> ONNX file; a text-only encoder has no image session
        self.sessions = {tower: open_session(path, providers) for tower, path in self.files.items()}

    @property
    def weight_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files.values())

    def run(self, tower: str, array: np.ndarray) -> np.ndarray:
        return session_for(self.sessions, tower).run(None, {INPUT_NAMES[tower]: array})[0]


def session_for(sessions: dict, tower: str):
    if tower not in sessions:
        raise UnsupportedError(f"this model was loaded for {', '.join(sessions)} only; load it again for {tower}s")
    return sessions[tower]


def open_session(path: Path, providers: list[str]):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: the machine may be shared, and PyTorch may run beside us.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable/invalid models
        raise CheckpointError(path, f"ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from None


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        ClipConfig.from_dict(manifest["config"])
        float(manifest["logit_scale"])
        if not any(p in manifest["files"] for p in ONNX_PRECISIONS):
            raise ValueError(f"'files' lists none of {', '.join(ONNX_PRECISIONS)}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(path, f"not a zhclip ONNX export manifest ({type(exc).__name__}: {exc})") from None
    return manifest


def providers_for(device: str) -> tuple[torch.device | str, list[str]]:
    """ONNX Runtime execution providers for a zhclip device string (`auto` takes CUDA only if ORT has it);
    the CPU is named without importing PyTorch."""
    import onnxruntime as ort

    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "auto":
        device = "cuda" if has_cuda else "cpu"
    dev = "cpu" if device == "cpu" else resolve_device(device)
    if device_type(dev) == "cuda" and not has_cuda:
        raise UnsupportedError(
            f"device {device!r}: this onnxruntime build has no CUDA provider "
            f"(has {', '.join(ort.get_available_providers())}); use --device cpu"
        )
    cuda = device_type(dev) == "cuda"
    return dev, (["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"])


class OnnxRuntime:
    """The precisions an export holds, each an `OnnxEncoder` on the providers of the requested device."""

    def __init__(self, directory: Path, device: str):
        require("onnx", "onnxruntime")
        self.directory = directory
        self.manifest = read_manifest(directory)
        self.device, self.providers = providers_for(device)
        self.config = ClipConfig.from_dict(self.manifest["config"])
        self.tokenizer = Tokenizer(directory / self.manifest.get("vocab", "vocab.txt"), self.config.context_length)
        self.source = str(directory)
        self.kind = "onnxruntime"
        self.name = runtime_name("onnxruntime")
        self.fingerprint = tuple(self.manifest.get("fingerprint", ()))
        self.where = f"by the ONNX export {directory}"

    def precisions(self) -> list[str]:
        return [p for p in ONNX_PRECISIONS if p in self.manifest["files"]]

    def encoder(self, precision: str, towers: tuple[str, ...] = TOWERS) -> OnnxEncoder:
        files = self.manifest["files"][precision]
        paths = {tower: self.directory / files[tower] for tower in towers}
        for path in paths.values():
            if not path.is_file():
                raise CheckpointError(path, "listed in the export manifest but missing")
        return OnnxEncoder(self.config, paths, self.providers, self.manifest["logit_scale"])

    trial_encoder = encoder
