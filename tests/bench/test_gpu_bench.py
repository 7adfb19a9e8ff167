"""The GPU side of `zhclip bench encode`, on a machine without a GPU: path names, what the weights of each
architecture need in GPU memory (computed, labelled as an estimate), and GPU paths refused where CUDA is absent."""

from __future__ import annotations

import pytest
import torch

from zhclip.bench.encode import BenchSettings, bench_encode
from zhclip.bench.gpu import MIB, gpu_paths, memory_lines, split_gpu_path, weights_bytes
from zhclip.errors import InputError
from zhclip.models.config import arch_config


def test_gpu_path_names_split_into_runtime_and_precision():
    assert split_gpu_path("gpu-onnxruntime_trt-fp16") == ("onnxruntime_trt", "fp16")
    assert split_gpu_path("gpu-torch-bf16") == ("torch", "bf16")
    assert split_gpu_path("gpu-auto") == ("auto", "auto")


def test_vit_h_14_weights_need_under_2_gib_at_fp16():
    """The overview's "16 GB+": ViT-H-14's weights are ~1 billion parameters, 3.6 GiB in fp32, half that in fp16."""
    sizes = weights_bytes(arch_config("ViT-H-14"))
    assert 0.9e9 < sizes["params"] < 1.1e9
    assert sizes["fp32"] == 2 * sizes["fp16"] == 4 * sizes["params"]
    assert sizes["fp16"] / 2**30 < 2.0
    assert 0.5 * sizes["fp16"] < sizes["int8"] < 0.6 * sizes["fp16"], "int8 halves the matrices, not the tables"


def test_memory_table_estimates_every_architecture_and_leaves_measured_for_a_gpu():
    config = arch_config("tiny")
    result = {"rows": [{"path": "baseline torch fp32"}], "memory": {"arch": config.name, **weights_bytes(config)}}
    lines = memory_lines(result)
    assert [line[0] for line in lines[1:]] == [config.name, "ViT-B-16", "ViT-L-14", "ViT-H-14"]
    assert lines[1][-1] == "unmeasured (needs a GPU run)" and "(est.)" in lines[0][2]
    vit_h = weights_bytes(arch_config("ViT-H-14"))
    assert lines[-1][3] == f"{vit_h['fp16'] / MIB:.0f}"
    measured = {"path": "gpu tensorrt fp16", "gpu_peak_mb": 2100.0, "gpu_memory_by": "NVML"}
    lines = memory_lines({**result, "rows": [*result["rows"], measured]})
    assert lines[1][-1] == "2100 (gpu tensorrt fp16, NVML)"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_gpu_paths_are_refused_without_cuda(tiny_checkpoints):
    assert gpu_paths() == []
    with pytest.raises(InputError, match="unknown path 'gpu-tensorrt-fp16'; available here: transformers-fp32"):
        bench_encode(tiny_checkpoints["pt"], ["gpu-tensorrt-fp16"], BenchSettings(quick=True))
