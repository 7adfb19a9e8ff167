"""The paths `precision="auto"` measures on an NVIDIA GPU beside PyTorch fp32/fp16/bf16: ONNX Runtime's CUDA
execution provider (fp32, fp16), ONNX Runtime's TensorRT provider, TensorRT engines built from the ONNX towers,
and torch-tensorrt (fp16 each: TensorRT's gain is its fp16 kernels, and each engine takes minutes to build).

They read one ONNX export per weights (fp32 and fp16 towers, `CUDA_EXPORT_CACHE`), and TensorRT's engines are
cached per weights, GPU model, compute capability, driver and TensorRT version (`engine_key`): an engine is valid
for those only. A runtime whose package is missing is skipped with one log line naming it, and the next is tried;
one that fails to build, or misses the fidelity bar, is never chosen (`auto`)."""

from __future__ import annotations

import copy
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UnsupportedError
from . import cache
from .engines import ENGINE_PRECISIONS, distribution_version, engine_folder, profile_options, tensorrt_version
from .gpu import gpu_info
from .onnx import INPUT_NAMES, ArrayEncoder, OnnxRuntime, open_session, session_for
from .plans import TOWERS

if TYPE_CHECKING:
    import torch

    from .base import Runtime

log = logging.getLogger(__name__)

CUDA_EXPORT_CACHE = "onnx-cuda-v1"  # fp32 and fp16 towers, read by every GPU runtime but PyTorch
GPU_EXTRA = "pip install 'zhclip[gpu]'"


def _ort_providers() -> list[str]:
    if importlib.util.find_spec("onnxruntime") is None:
        return []
    import onnxruntime as ort

    return ort.get_available_providers()


def _missing_ort_provider(provider: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        if provider in _ort_providers():
            return None
        return f"the installed onnxruntime has no {provider} (pip uninstall onnxruntime; pip install onnxruntime-gpu)"

    return missing


def _missing_module(module: str, how: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        return None if importlib.util.find_spec(module) is not None else f"{module} is not installed ({how})"

    return missing


@dataclass(frozen=True)
class GpuKind:
    kind: str
    what: str
    missing: Callable[[], str | None]  # why it cannot run here; None when it can
    needs_onnx: bool  # reads the ONNX towers (else the PyTorch network)


GPU_KINDS = (
    GpuKind("onnxruntime", "ONNX Runtime's CUDA provider", _missing_ort_provider("CUDAExecutionProvider"), True),
    GpuKind(
        "onnxruntime_trt",
        "ONNX Runtime's TensorRT provider",
        _missing_ort_provider("TensorrtExecutionProvider"),
        True,
    ),
    GpuKind("tensorrt", "TensorRT engines", _missing_module("tensorrt", GPU_EXTRA), True),
    GpuKind(
        "torch_tensorrt",
        "torch-tensorrt",
        _missing_module("torch_tensorrt", "pip install the torch-tensorrt built for this PyTorch"),
        False,
    ),
)


def gpu_kinds(requested: str, base_kind: str, allowed: str | None = None) -> list[GpuKind]:
    """The GPU runtimes `requested` (`auto`, or one kind) names beside `base_kind`, narrowed to `allowed` (the
    comma-separated kinds of ZHCLIP_RUNTIMES) where that is set."""
    return [
        k
        for k in GPU_KINDS
        if k.kind != base_kind
        and requested in ("auto", k.kind)
        and (not allowed or k.kind in allowed.split(","))
        and (base_kind == "torch" or k.needs_onnx)
    ]


def cuda_runtimes(base: Runtime, requested: str, allowed: str | None = None) -> list[Runtime]:
    """The runtimes beside `base` that can run its weights on its GPU (of `gpu_kinds`); each whose package is
    missing is skipped with one log line, and the next tried. The ONNX towers they read are exported once, when
    one needs them."""
    found: list[Runtime] = []
    directory = None
    for kind in gpu_kinds(requested, base.kind, allowed):
        reason = kind.missing()
        if reason is not None:
            log.warning("GPU paths: skipping %s: %s", kind.what, reason)
            continue
        if kind.needs_onnx and directory is None:
            directory = _onnx_towers(base)
        runtime = _open(kind.kind, base, directory)
        runtime.source = base.source  # a model is known by its checkpoint, not by the cache folder
        found.append(runtime)
    return found


def _onnx_towers(base: Runtime) -> Path:
    """fp32 and fp16 ONNX towers of `base`'s weights: its own export directory, or one built once and cached."""
    if base.kind != "torch":
        return base.directory
    from .onnx_export import export_network

    def export(out: Path) -> None:
        network = base.network
        if next(network.parameters()).device.type != "cpu":
            network = copy.deepcopy(network).cpu()
        export_network(network, out, ("fp32", "fp16"), base.source, base.tokenizer.vocab_path)

    return cache.entry(CUDA_EXPORT_CACHE, base.weights_key, export, "an ONNX export for the GPU (fp32, fp16)")


def _open(kind: str, base: Runtime, directory: Path | None) -> Runtime:
    if kind == "onnxruntime":
        return CudaOnnxRuntime(directory, base.device)
    if kind == "onnxruntime_trt":
        return OnnxTensorRtRuntime(directory, base.device, _weights_key(base, directory))
    from .tensorrt import TensorRtRuntime, TorchTensorRtRuntime

    if kind == "tensorrt":
        return TensorRtRuntime(directory, base.device, _weights_key(base, directory))
    return TorchTensorRtRuntime(base)


def _weights_key(base: Runtime, directory: Path) -> str:
    """What engines of these weights are keyed by: the checkpoint's digest, or an export's ONNX files' bytes."""
    return base.weights_key if base.kind == "torch" else cache.files_digest(sorted(directory.glob("*.onnx*")))


class GpuOnnxEncoder(ArrayEncoder):
    """ONNX Runtime sessions of the towers, each on its own providers; takes tensors on any device (a ClipModel
    on the GPU hands it CUDA tensors). ONNX Runtime falls back to the next provider silently when one cannot
    take a model, so a session that does not run on the provider asked for is refused here."""

    def __init__(self, config, files: dict[str, Path], providers: dict[str, list], logit_scale: float):
        super().__init__(config, logit_scale)
        self.files = files
        self.sessions = {tower: open_session(path, providers[tower]) for tower, path in files.items()}
        for tower, session in self.sessions.items():
            wanted = _provider_name(providers[tower][0])
            if session.get_providers()[0] != wanted:
                raise UnsupportedError(f"ONNX Runtime could not run the {tower} tower on {wanted}")

    @property
    def weight_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files.values())

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return super().encode_image(pixels.cpu())

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return super().encode_text(ids.cpu())

    def run(self, tower: str, array: np.ndarray) -> np.ndarray:
        return session_for(self.sessions, tower).run(None, {INPUT_NAMES[tower]: array})[0]


def _provider_name(provider: str | tuple[str, dict]) -> str:
    return provider if isinstance(provider, str) else provider[0]


class CudaOnnxRuntime(OnnxRuntime):
    """ONNX Runtime's CUDA provider over the fp32 and fp16 towers of an export."""

    kind = "onnxruntime"

    def __init__(self, directory: Path, device: torch.device):
        super().__init__(directory, str(device))
        self.name = f"{self.kind}={distribution_version('onnxruntime-gpu')}"
        self.index = getattr(self.device, "index", None) or 0

    def precisions(self) -> list[str]:
        return [p for p in ("fp32", "fp16") if p in self.manifest["files"]]

    def encoder(self, precision: str, towers: tuple[str, ...] = TOWERS) -> GpuOnnxEncoder:
        files = {tower: self.directory / self.manifest["files"][precision][tower] for tower in towers}
        providers = {tower: self.tower_providers(tower, precision) for tower in towers}
        return GpuOnnxEncoder(self.config, files, providers, self.manifest["logit_scale"])

    trial_encoder = encoder

    def tower_providers(self, tower: str, precision: str) -> list:
        return [("CUDAExecutionProvider", {"device_id": self.index}), "CPUExecutionProvider"]


class OnnxTensorRtRuntime(CudaOnnxRuntime):
    """ONNX Runtime's TensorRT provider over the fp16 towers; TensorRT's engines (and its timing cache) are kept in
    a folder per weights, GPU, driver and TensorRT version, so each is built once."""

    kind = "onnxruntime_trt"

    def __init__(self, directory: Path, device: torch.device, weights_key: str):
        super().__init__(directory, device)
        self.weights_key = weights_key
        self.gpu = gpu_info(self.device)
        self.name = f"{self.kind}={distribution_version('onnxruntime-gpu')}/tensorrt={tensorrt_version()}"

    def precisions(self) -> list[str]:
        return [p for p in ENGINE_PRECISIONS if p in self.manifest["files"]]

    def tower_providers(self, tower: str, precision: str) -> list:
        folder = engine_folder("onnxruntime-trt-v1", self.weights_key, self.gpu, precision)
        folder.mkdir(parents=True, exist_ok=True)
        options = {
            "device_id": self.index,
            "trt_fp16_enable": precision == "fp16",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(folder),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(folder),
            **profile_options(tower, self.config),
        }
        return [("TensorrtExecutionProvider", options), *super().tower_providers(tower, precision)]
