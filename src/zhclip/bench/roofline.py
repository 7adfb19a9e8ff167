"""The image tower's GEMM-bound limit on this machine: the fastest matrix multiply each precision gets here, timed
at the ViT's own MLP shape (batch x tokens rows, width -> MLP width), divided into the tower's GEMM FLOPs per image
(`models.flops.count_flops`: every linear layer, the attention products and the patch embedding)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..models.config import ClipConfig
from ..models.flops import count_flops
from ..runtime.measure import timings
from ..runtime.quantize import quantize_int8


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


def image_gemm_flops(config: ClipConfig, every_token_last: bool = False) -> int:
    """GEMM FLOPs of one image; `every_token_last`: as in a tower whose last layer computes every token, not
    only the class token (transformers' `ChineseCLIPModel`)."""
    flops = count_flops(config)["image"]
    return flops + _last_block_flops(config, None) - _last_block_flops(config, 1) if every_token_last else flops


def _last_block_flops(config: ClipConfig, queries: int | None) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    from ..models.network import VisionTransformer

    vision = config.vision
    with torch.device("meta"):
        block = VisionTransformer(vision, config.embed_dim).transformer.resblocks[-1]
        x = torch.empty(1, vision.grid**2 + 1, vision.width)
    with FlopCounterMode(display=False) as counter:
        block(x, queries)
    return counter.get_total_flops()


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


def _openvino_matmul(precision: str) -> Callable[[GemmShape], Callable[[], object]]:
    """OpenVINO's (oneDNN's) own GEMM: one MatMul by a constant, compiled like the towers are; for int8 both
    operands pass a FakeQuantize, which OpenVINO runs as an int8 GEMM, as in NNCF's quantized towers."""

    def build(shape: GemmShape) -> Callable[[], object]:
        import numpy as np
        import openvino as ov
        import openvino.opset13 as ops

        rng = np.random.default_rng(0)
        x = ops.parameter([shape.m, shape.k], np.float32)
        a, w = x, ops.constant(rng.standard_normal((shape.k, shape.n)).astype(np.float32))
        if precision == "int8":
            a, w = _fake_quantize(ops, a, 4.0, 256), _fake_quantize(ops, w, 4.0, 255)
        model = ov.Model([ops.matmul(a, w, False, False)], [x])
        from ..runtime.openvino import HINTS, shared_core

        properties = {"INFERENCE_PRECISION_HINT": HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        compiled = shared_core().compile_model(model, "CPU", properties)
        request, data = compiled.create_infer_request(), rng.standard_normal((shape.m, shape.k)).astype(np.float32)
        return lambda: request.infer([data])

    return build


def _onnxruntime_int8(shape: GemmShape) -> Callable[[], object]:
    """ONNX Runtime's int8 GEMM as the onnx int8 path runs it: a MatMul by a constant, quantized like the towers'
    exports (`to_int8`: int8 weights, the input quantized on the fly), in a session opened like theirs."""
    import tempfile
    from pathlib import Path

    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save

    from ..runtime.onnx import open_session
    from ..runtime.onnx_export import to_int8

    weights = np.random.default_rng(0).standard_normal((shape.k, shape.n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [shape.m, shape.k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape.m, shape.n])],
        [numpy_helper.from_array(weights, "w")],
    )
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "gemm.onnx", Path(tmp) / "gemm.int8.onnx"
        save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), fp32)
        to_int8(fp32, int8)
        session = open_session(int8, ["CPUExecutionProvider"])
    data = np.random.default_rng(1).standard_normal((shape.m, shape.k)).astype(np.float32)
    return lambda: session.run(None, {"x": data})


def _fake_quantize(ops, node, bound: float, levels: int):
    low, high = ops.constant(-bound), ops.constant(bound)
    return ops.fake_quantize(node, low, high, low, high, levels)


# Every kernel that can compute a precision's GEMMs on the CPU; the fastest one that runs is its peak.
# A path holding fp16 weights may compute in fp32 (ONNX Runtime's CPU kernels do), so fp32 counts for fp16.
KERNELS: dict[str, dict[str, Callable[[GemmShape], Callable[[], object]]]] = {
    "fp32": {"torch.matmul fp32": _matmul(torch.float32), "openvino MatMul fp32": _openvino_matmul("fp32")},
    "bf16": {"torch.matmul bf16": _matmul(torch.bfloat16), "openvino MatMul bf16": _openvino_matmul("bf16")},
    "fp16": {"torch.matmul fp16": _matmul(torch.float16), "torch.matmul fp32": _matmul(torch.float32)},
    "int8": {
        "torch._int_mm": _int_mm,
        "fbgemm dynamic int8 linear": _dynamic_int8_linear,
        "openvino MatMul int8": _openvino_matmul("int8"),
        "onnxruntime MatMul int8": _onnxruntime_int8,
    },
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
                except (ImportError, RuntimeError, NotImplementedError) as exc:
                    errors.append(f"{kernel}: {str(exc).splitlines()[0]}")
                    continue
                if best is None or shape.flops / seconds / 1e9 > best["gflops"]:
                    best = {"gflops": shape.flops / seconds / 1e9, "kernel": kernel}
            peaks[precision] = best or {"error": "; ".join(errors)}
    return peaks


def limit_images_per_s(gflops: float, image_flops: int) -> float:
    """Images per second if the tower ran every GEMM at `gflops` and spent nothing elsewhere."""
    return gflops * 1e9 / image_flops
