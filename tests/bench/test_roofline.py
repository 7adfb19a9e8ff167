"""The roofline's parts, untimed: the ViT's GEMM FLOPs against a hand count, the GEMM shape, the kernels that
give each precision's peak, the per-round fraction of the limit, and the table."""

from __future__ import annotations

import numpy as np
import pytest

from zhclip.bench import roofline as rl
from zhclip.bench.encode import BenchPath, format_roofline, roofline
from zhclip.models.config import arch_config


def _hand_count_vit_b16() -> int:
    """GEMM FLOPs of one 224 px image through ViT-B/16, by hand: 2 x multiply-adds. The last layer's q/k/v
    projection runs over every token, its attention, output and MLP over the class token only."""
    tokens, width, mlp, layers = 14 * 14 + 1, 768, 3072, 12

    def layer(queries: int) -> int:
        qkv = tokens * 3 * width * width
        attention = 2 * queries * tokens * width  # q @ k.T and weights @ v, over all heads
        return qkv + attention + queries * (width * width + 2 * width * mlp)  # out, MLP up and down

    patches = 14 * 14 * width * (3 * 16 * 16)  # the patch embedding convolution
    projection = width * 512
    return 2 * ((layers - 1) * layer(tokens) + layer(1) + patches + projection)


def test_vit_b16_gemm_flops_match_the_hand_count():
    flops = rl.image_gemm_flops(arch_config("ViT-B-16"))
    assert flops == _hand_count_vit_b16()
    assert round(flops / 1e9, 1) == 32.9
    assert round(rl.image_gemm_flops(arch_config("ViT-B-16"), every_token_last=True) / 1e9, 2) == 35.13


def test_gemm_shape_is_the_mlp_at_the_batch():
    shape = rl.vit_gemm_shape(arch_config("ViT-B-16"), 16)
    assert (shape.m, shape.k, shape.n) == (3152, 768, 3072) and str(shape) == "3152x768 @ 768x3072"
    assert shape.flops == 2 * 3152 * 768 * 3072


def test_every_precision_gets_a_peak_from_a_kernel_that_runs():
    peaks = rl.gemm_peaks(["fp32", "bf16", "fp16", "int8"], rl.GemmShape(64, 32, 64), repeat=1)
    for precision, peak in peaks.items():
        assert peak["gflops"] > 0 and peak["kernel"] in rl.KERNELS[precision], (precision, peak)


def test_onnxruntime_int8_kernel_multiplies_at_the_shape():
    (out,) = rl.KERNELS["int8"]["onnxruntime MatMul int8"](rl.GemmShape(64, 32, 48))()
    assert out.shape == (64, 48) and np.isfinite(out).all()
    assert 3 < out.std() < 9  # normal inputs at width 32: products of std sqrt(32) ~ 5.7, not zeros or garbage


def test_a_precision_without_a_working_kernel_says_why(monkeypatch):
    def broken(shape):
        raise RuntimeError("no int8 GEMM on this CPU\nmore detail")

    monkeypatch.setitem(rl.KERNELS, "int8", {"broken kernel": broken})
    assert rl.gemm_peaks(["int8"], rl.GemmShape(8, 8, 8), repeat=1) == {
        "int8": {"error": "broken kernel: no int8 GEMM on this CPU"}
    }


def _run(name, precision, rounds, flops=10**9):
    """A measured path: `rounds` are (images/s at batch 32, GEMM peak of the same process)."""
    measured = [{"image_b32_per_s": speed, "gemm_peak": peak} for speed, peak in rounds]
    return BenchPath(name, "model.pt", precision, flops, measured)


def test_the_limit_is_the_fastest_peak_of_the_run_for_every_path_of_a_precision():
    # 1 GFLOP per image: a 100 GFLOP/s peak allows 100 img/s. The fp32 paths' samples: 100, 60, 120 GFLOP/s.
    fp32 = [(50.0, {"gflops": 100.0, "kernel": "a"}), (30.0, {"gflops": 60.0, "kernel": "a"})]
    other = [(60.0, {"gflops": 120.0, "kernel": "b"})]
    int8 = [(90.0, {"gflops": 300.0, "kernel": "c"})]
    runs = [_run("baseline torch fp32", "fp32", fp32), _run("onnx fp32", "fp32", other), _run("int8", "int8", int8)]
    result = roofline(runs, rl.GemmShape(1, 1, 1))
    base, onnx, quantized = result["rows"]
    assert base["limit_per_s"] == onnx["limit_per_s"] == pytest.approx(120.0) and base["kernel"] == "b"
    assert base["of_limit"] == pytest.approx(40.0 / 120) and onnx["of_limit"] == pytest.approx(0.5)
    assert quantized["peak_gflops"] == pytest.approx(300.0) and quantized["of_limit"] == pytest.approx(0.3)
    assert result["peak_samples"] == {"fp32": {"slowest": 60.0, "count": 3}, "int8": {"slowest": 300.0, "count": 1}}


def test_roofline_table_format():
    runs = [
        _run("baseline torch fp32", "fp32", [(1.5, {"gflops": 200.0, "kernel": "torch.matmul fp32"})], 35_126_906_880),
        _run("torch int8", "int8", [(3.0, {"error": "no kernel"})]),
    ]
    result = {
        "rows": [{"path": "baseline torch fp32", "fidelity": 1.0}, {"path": "torch int8", "fidelity": 0.9991}],
        "roofline": roofline(runs, rl.GemmShape(6304, 768, 3072)),
    }
    table = format_roofline(result).splitlines()
    assert table[0] == (
        "GEMM-bound limit (peak: the fastest kernel for the precision at 6304x768 @ 768x3072, this machine):"
    )
    assert table[1] == (
        "| path | GFLOPs/img | GEMM peak GFLOP/s | kernel | limit img/s | img/s b32 | of limit | cos vs fp32 |"
    )
    assert table[3] == "| baseline torch fp32 | 35.13 | 200 | torch.matmul fp32 | 5.69 | 1.50 | 26% | 1.00000 |"
    assert table[4] == "| torch int8 | unavailable: no kernel |  |  |  |  |  |  |"
    assert table[5] == "the fastest GEMM sample of the run is the peak; samples (GFLOP/s): fp32 200-200 over 1"
