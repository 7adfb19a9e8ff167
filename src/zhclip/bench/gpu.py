"""The GPU side of `zhclip bench encode`: the paths an NVIDIA GPU runs (`gpu-KIND-PRECISION` and `gpu-auto`),
opening one, its peak GPU memory (PyTorch's allocator for PyTorch paths; the driver's count of the process, NVML,
for ONNX Runtime and TensorRT, whose allocations PyTorch does not see), and what an architecture's weights need at
each precision, computed from its config: an estimate, labelled as one, beside the peaks a GPU run measures."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UnsupportedError, ZhclipError
from ..models.config import ClipConfig, arch_config
from ..models.device import supported_precisions
from ..runtime import load, open_model, open_runtime
from ..runtime.cuda import GPU_KINDS, cuda_runtimes
from ..runtime.engines import ENGINE_PRECISIONS
from ..runtime.gpu import process_memory_mb

PREFIX = "gpu-"
# The architectures whose weights' memory every run estimates (the overview's "16 GB+" is about the large ones).
MEMORY_ARCHS = ("ViT-B-16", "ViT-L-14", "ViT-H-14")
MIB = 2**20


def gpu_paths() -> list[str]:
    """Every GPU path name where CUDA is present (a path whose package is missing reports why), else none."""
    if not torch.cuda.is_available():
        return []
    names = [f"{PREFIX}torch-{p}" for p in supported_precisions(torch.device("cuda"))]
    names += [f"{PREFIX}onnxruntime-{p}" for p in ("fp32", "fp16")]
    names += [f"{PREFIX}{kind.kind}-{p}" for kind in GPU_KINDS[1:] for p in ENGINE_PRECISIONS]
    return [*names, f"{PREFIX}auto"]


def is_gpu_path(name: str) -> bool:
    return name.startswith(PREFIX)


def split_gpu_path(name: str) -> tuple[str, str]:
    """(runtime kind, precision) of `gpu-KIND-PRECISION`; ("auto", "auto") for `gpu-auto`."""
    rest = name.removeprefix(PREFIX)
    if rest == "auto":
        return "auto", "auto"
    kind, _, precision = rest.rpartition("-")
    return kind, precision


def open_gpu_path(source: str, kind: str, precision: str):
    """A ClipModel of `source` on the GPU path named; UnsupportedError saying why one cannot run here."""
    if kind in ("auto", "torch"):
        return load(source, device="cuda", precision=precision)
    base = open_runtime(source, "cuda")
    runtimes = cuda_runtimes(base, kind)
    if not runtimes:
        spec = next(k for k in GPU_KINDS if k.kind == kind)
        raise UnsupportedError(f"{spec.what} cannot run here: {spec.missing() or 'not for this source'}")
    try:
        return open_model(runtimes[0], precision)
    except ZhclipError:
        raise
    except Exception as exc:  # engine builders fail in their own ways; the row says how
        raise UnsupportedError(f"building {kind} {precision} failed: {type(exc).__name__}: {exc}") from None


def reset_gpu_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def gpu_peak(paths: dict[str, str]) -> dict:
    """Peak GPU memory since `reset_gpu_peak`, and how it was measured, for a model on `paths`."""
    if all(path.startswith("torch-") for path in paths.values()):
        return {"gpu_peak_mb": torch.cuda.max_memory_allocated() / MIB, "gpu_memory_by": "torch allocator peak"}
    found = process_memory_mb(torch.cuda.current_device())
    if found is None:
        return {"gpu_peak_mb": None, "gpu_memory_by": "not measured (no NVML: pip install nvidia-ml-py)"}
    used, what = found
    return {"gpu_peak_mb": used, "gpu_memory_by": f"{what}, after encoding"}


def weights_bytes(config: ClipConfig) -> dict[str, int]:
    """Parameters, and bytes of the weights at fp32, fp16/bf16 and int8 (every weight matrix but the embedding
    tables in one byte, the rest in two), computed from the architecture (nothing is allocated)."""
    with torch.device("meta"):
        from ..models.network import ClipNetwork

        network = ClipNetwork(config)
    tables = {id(p) for m in network.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    params = list(network.parameters())
    total = sum(p.numel() for p in params)
    matrices = sum(p.numel() for p in params if p.ndim == 2 and id(p) not in tables)
    return {"params": total, "fp32": 4 * total, "fp16": 2 * total, "int8": matrices + 2 * (total - matrices)}


def memory_lines(result: dict) -> list[list[str]]:
    """The weights' GPU memory per precision, estimated for the measured model (`result["memory"]`, from
    `weights_bytes`) and for `MEMORY_ARCHS`, beside the peak GPU memory each GPU path of this run measured."""
    measured = [row for row in result["rows"] if row.get("gpu_peak_mb") is not None]
    peaks = "; ".join(f"{r['gpu_peak_mb']:.0f} ({r['path']}, {r['gpu_memory_by']})" for r in measured)
    header = ["architecture", "parameters", "fp32 MiB (est.)", "fp16/bf16 MiB (est.)", "int8 MiB (est.)"]
    lines = [[*header, "measured GPU peak MiB (path, how)"]]
    own = result["memory"]
    others = [(name, weights_bytes(arch_config(name))) for name in MEMORY_ARCHS if name != own["arch"]]
    for name, sizes in [(own["arch"], own), *others]:
        cells = [f"{sizes['params'] / 1e6:.0f} M", *(f"{sizes[p] / MIB:.0f}" for p in ("fp32", "fp16", "int8"))]
        measured_cell = (peaks or "unmeasured (needs a GPU run)") if sizes is own else "not run"
        lines.append([name, *cells, measured_cell])
    return lines


MEMORY_TITLE = (
    "GPU memory: the weights alone, estimated from each architecture (parameters x bytes; activations, workspace "
    "and the runtime's own memory come on top), and what this run measured on a GPU"
)
