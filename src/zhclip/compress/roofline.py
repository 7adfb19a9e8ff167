"""The image tower's GEMM-bound limit on this machine: the fastest matrix multiply each precision gets here, timed
at the ViT's own MLP shape (batch x tokens rows, width -> MLP width), divided into the tower's GEMM FLOPs per image
(`count_flops`: every linear layer, the attention products and the patch embedding)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..models.config import ClipConfig
from ..runtime.measure import timings
from ..runtime.quantize import quantize_int8
from .prune import count_flops


@dataclass(frozen=True)
class GemmShape:
    m: int  # rows: images x tokens
    k: int  # width
    n: int  # MLP width

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n

    def __str__(self) -> str:
        return f"{self.m}x{self.k} @ {self.k}x{self.n}"


def vit_gemm_shape(config: ClipConfig, batch: int) -> GemmShape:
    """The first MLP layer of the image tower at `batch` images: its largest GEMM."""
    vision = config.vision
    return GemmShape(batch * (vision.grid**2 + 1), vision.width, vision.mlp_dim(0))


def image_gemm_flops(config: ClipConfig) -> int:
    return count_flops(config)["image"]


def _matmul(dtype: torch.dtype) -> Callable[[GemmShape], Callable[[], object]]:
    def build(shape: GemmShape) -> Callable[[], object]:
        a, b = torch.randn(shape.m, shape.k).to(dtype), torch.randn(shape.k, shape.n).to(dtype)
        return lambda: a @ b

    return build


def _int_mm(shape: GemmShape) -> Callable[[], object]:
    a = torch.randint(-127, 128, (shape.m, shape.k), dtype=torch.int8)
    b = torch.randint(-127, 128, (shape.k, shape.n), dtype=torch.int8)
    return lambda: torch._int_mm(a, b)


def _dynamic_int8_linear(shape: GemmShape) -> Callable[[], object]:
    """The kernel the torch int8 path runs: fbgemm's dynamically quantized linear (it quantizes its input too)."""
    layer = quantize_int8(nn.Sequential(nn.Linear(shape.k, shape.n)))
    x = torch.randn(shape.m, shape.k)
    return lambda: layer(x)


# Every kernel that can compute a precision's GEMMs on the CPU; the fastest one that runs is its peak.
# A path holding fp16 weights may compute in fp32 (ONNX Runtime's CPU kernels do), so fp32 counts for fp16.
KERNELS: dict[str, dict[str, Callable[[GemmShape], Callable[[], object]]]] = {
    "fp32": {"torch.matmul fp32": _matmul(torch.float32)},
    "bf16": {"torch.matmul bf16": _matmul(torch.bfloat16)},
    "fp16": {"torch.matmul fp16": _matmul(torch.float16), "torch.matmul fp32": _matmul(torch.float32)},
    "int8": {"torch._int_mm": _int_mm, "fbgemm dynamic int8 linear": _dynamic_int8_linear},
}


def gemm_peaks(precisions: list[str], shape: GemmShape, repeat: int = 3) -> dict[str, dict]:
    """Per precision: {"gflops", "kernel"} of its fastest kernel here, or {"error"} when none runs."""
    peaks = {}
    with torch.inference_mode():
        for precision in precisions:
            best, errors = None, []
            for kernel, build in KERNELS[precision].items():
                try:
                    seconds = min(timings(build(shape), repeat))
                except (RuntimeError, NotImplementedError) as exc:
                    errors.append(f"{kernel}: {str(exc).splitlines()[0]}")
                    continue
                if best is None or shape.flops / seconds / 1e9 > best["gflops"]:
                    best = {"gflops": shape.flops / seconds / 1e9, "kernel": kernel}
            peaks[precision] = best or {"error": "; ".join(errors)}
    return peaks


def limit_images_per_s(gflops: float, image_flops: int) -> float:
    """Images per second if the tower ran every GEMM at `gflops` and spent nothing elsewhere."""
    return gflops * 1e9 / image_flops
