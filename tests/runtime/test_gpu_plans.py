"""`precision="auto"` on an NVIDIA GPU, tested without one: engine and plan keys per GPU model, driver and
TensorRT version; the plan picks the fastest path that keeps fidelity, per tower; a path that cannot be built,
or whose package is missing, is skipped with one log line. The last test runs only where CUDA is present."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import pytest
import torch

import zhclip
from zhclip.errors import UnsupportedError
from zhclip.runtime import auto, cuda, engines, gpu, loader, open_model, open_runtime, plans
from zhclip.runtime.calibration import synthetic_batch
from zhclip.runtime.gpu import GpuInfo
from zhclip.runtime.measure import FIDELITY_BAR

from .fake_paths import CONFIG, FakePath, FakeRuntime, measured_paths, use_clock

H100 = GpuInfo("NVIDIA H100 80GB HBM3", "9.0", "570.124.06", 81559)
L4 = GpuInfo("NVIDIA L4", "8.9", "570.124.06", 23034)
H100_NEW_DRIVER = GpuInfo("NVIDIA H100 80GB HBM3", "9.0", "575.51.03", 81559)


@pytest.fixture
def on_gpu(monkeypatch):
    """The GPU the plan keys name (no CUDA is needed to compute them); switch it with `on_gpu(info)`."""

    def use(info: GpuInfo) -> None:
        monkeypatch.setattr(plans, "gpu_info", lambda device: info)

    use(H100)
    return use


def test_engine_keys_change_with_gpu_model_driver_and_tensorrt_version():
    keys = {
        engines.engine_key("w1", H100, "10.9.0", "fp16"),
        engines.engine_key("w1", L4, "10.9.0", "fp16"),
        engines.engine_key("w1", H100_NEW_DRIVER, "10.9.0", "fp16"),
        engines.engine_key("w1", H100, "11.0.1", "fp16"),
        engines.engine_key("w2", H100, "10.9.0", "fp16"),
    }
    assert len(keys) == 5
    assert engines.engine_key("w1", H100, "10.9.0", "fp16") == engines.engine_key("w1", H100, "10.9.0", "fp16")


def test_plan_keys_change_with_gpu_model_and_driver(on_gpu):
    key = plans.cache_key("torch=2+tensorrt=10.9.0", torch.device("cuda"), CONFIG)
    assert "cuda:NVIDIA_H100_80GB_HBM3-sm9.0-driver570.124.06" in key
    on_gpu(H100_NEW_DRIVER)
    assert plans.cache_key("torch=2+tensorrt=10.9.0", torch.device("cuda"), CONFIG) != key
    assert plans.cache_key("torch=2+tensorrt=11.0.1", torch.device("cuda"), CONFIG) != key


def _gpu_runtimes(clock, **overrides):
    """PyTorch fp32 (the reference, 10 s a call), fp16, bf16; ONNX Runtime CUDA fp16; TensorRT fp16, whose text
    tower is unfaithful (Chinese-CLIP's issue #350: TensorRT text towers at cosine 0.68-0.79); torch-tensorrt,
    which fails to build."""
    paths = {
        "torch": {"fp32": FakePath(10, 10), "fp16": FakePath(4, 3), "bf16": FakePath(4.5, 3.5, faithful=("image",))},
        "onnxruntime": {"fp16": FakePath(3, 2)},
        "tensorrt": {"fp16": FakePath(1, 0.5, faithful=("image",))},
        "torch_tensorrt": {"fp16": FakePath(build_error="torch_tensorrt: no converter for aten.foo")},
        **overrides,
    }
    return [FakeRuntime(kind, clock, found, device=torch.device("cuda")) for kind, found in paths.items()]


def test_plan_picks_the_fastest_faithful_path_per_tower(on_gpu, monkeypatch, caplog):
    clock = use_clock(monkeypatch)
    runtimes = _gpu_runtimes(clock)
    with caplog.at_level(logging.WARNING, logger="zhclip.runtime.auto"):
        plan = auto.choose_plan(runtimes)
    assert plan == {"image": "tensorrt-fp16", "text": "onnxruntime-fp16"}
    (results,) = measured_paths().values()
    assert results["tensorrt-fp16"]["text_fidelity"] < FIDELITY_BAR <= results["tensorrt-fp16"]["image_fidelity"]
    assert results["torch-bf16"]["text_fidelity"] < FIDELITY_BAR
    failed = results["torch_tensorrt-fp16"]
    assert failed["image_fidelity"] is None and "no converter" in failed["error"]
    assert [r.message for r in caplog.records if "cannot run here" in r.message] == [
        "precision auto: [6/6] torch_tensorrt-fp16 cannot run here, not chosen "
        "(torch_tensorrt: no converter for aten.foo)"
    ]


def test_an_unfaithful_path_is_never_chosen_however_fast(on_gpu, monkeypatch):
    clock = use_clock(monkeypatch)
    bad = {"fp16": FakePath(0.01, 0.01, faithful=())}
    plan = auto.choose_plan(_gpu_runtimes(clock, tensorrt=bad, onnxruntime={"fp16": FakePath(30, 30)}))
    assert "tensorrt-fp16" not in plan.values()
    assert plan == {"image": "torch-fp16", "text": "torch-fp16"}


def test_the_plan_is_measured_again_for_a_new_driver_only(on_gpu, monkeypatch):
    clock = use_clock(monkeypatch)
    runtimes = _gpu_runtimes(clock)
    auto.choose_plan(runtimes)
    tensorrt = runtimes[2]
    assert tensorrt.built == ["fp16"]
    auto.choose_plan(runtimes)
    assert tensorrt.built == ["fp16"], "a remembered plan is not measured again"
    on_gpu(H100_NEW_DRIVER)
    auto.choose_plan(runtimes)
    assert tensorrt.built == ["fp16", "fp16"]
    assert len(measured_paths()) == 2


def test_missing_gpu_packages_are_skipped_with_one_line_each(monkeypatch, caplog):
    """Without onnxruntime-gpu, TensorRT and torch-tensorrt (as on this machine), PyTorch's paths remain."""
    monkeypatch.setattr(cuda, "_ort_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(cuda.importlib.util, "find_spec", lambda name: None)
    base = FakeRuntime("torch", None, {"fp32": FakePath()}, device=torch.device("cuda"))
    with caplog.at_level(logging.WARNING, logger="zhclip.runtime.cuda"):
        assert cuda.cuda_runtimes(base, "auto") == []
    lines = [r.message for r in caplog.records]
    assert len(lines) == 4
    assert "ONNX Runtime's CUDA provider" in lines[0] and "onnxruntime-gpu" in lines[0]
    assert "TensorRT engines: tensorrt is not installed (pip install 'zhclip[gpu]')" in lines[2]
    assert "torch-tensorrt" in lines[3]


def test_each_missing_package_leaves_the_next_path(monkeypatch, caplog):
    """Only TensorRT missing: ONNX Runtime's two providers and torch-tensorrt are opened, in that order."""
    monkeypatch.setattr(cuda, "_ort_providers", lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider"])
    monkeypatch.setattr(cuda.importlib.util, "find_spec", lambda name: None if name == "tensorrt" else object())
    opened = []
    monkeypatch.setattr(cuda, "_onnx_towers", lambda base: "export-dir")
    monkeypatch.setattr(cuda, "_open", lambda kind, base, directory: opened.append((kind, directory)) or base)
    base = FakeRuntime("torch", None, {"fp32": FakePath()}, device=torch.device("cuda"))
    base.source = "model.pt"
    with caplog.at_level(logging.WARNING, logger="zhclip.runtime.cuda"):
        assert len(cuda.cuda_runtimes(base, "auto")) == 3
    assert [kind for kind, _ in opened] == ["onnxruntime", "onnxruntime_trt", "torch_tensorrt"]
    assert opened[0][1] == "export-dir"
    assert [r.message for r in caplog.records] == [
        "GPU paths: skipping TensorRT engines: tensorrt is not installed (pip install 'zhclip[gpu]')"
    ]


def test_zhclip_runtimes_narrows_the_gpu_paths():
    assert [k.kind for k in cuda.gpu_kinds("auto", "torch", "torch,tensorrt")] == ["tensorrt"]
    assert [k.kind for k in cuda.gpu_kinds("onnxruntime", "torch")] == ["onnxruntime"]
    assert [k.kind for k in cuda.gpu_kinds("auto", "onnxruntime")] == ["onnxruntime_trt", "tensorrt"]


def test_the_loader_measures_the_gpu_paths_beside_pytorch(on_gpu, monkeypatch):
    """`load(..., device="cuda", precision="auto")` reaches the GPU runtimes through the loader's one hook."""
    clock = use_clock(monkeypatch)
    base, *others = _gpu_runtimes(clock)
    monkeypatch.setattr(cuda, "cuda_runtimes", lambda b, requested, allowed: others if b is base else [])
    loader.convert_here(base, "auto", "auto", measure=True)
    (results,) = measured_paths().values()
    assert set(results) == {"torch-fp32", "torch-fp16", "torch-bf16", "onnxruntime-fp16", "tensorrt-fp16"} | {
        "torch_tensorrt-fp16"
    }


def test_tensorrt_shape_profiles_cover_the_model():
    image, text = engines.tower_shapes("image", CONFIG), engines.tower_shapes("text", CONFIG)
    size = CONFIG.vision.image_size
    assert image == ((1, 3, size, size), (32, 3, size, size), (64, 3, size, size))
    assert text[0] == (1, 1) and text[2] == (256, CONFIG.context_length)
    assert engines.profile_options("text", CONFIG)["trt_profile_max_shapes"] == f"ids:256x{CONFIG.context_length}"


def test_onnx_runtime_gpu_paths_refuse_a_silent_fallback_and_keep_fidelity(tiny_checkpoints, monkeypatch):
    """Run on the CPU: the GPU export's towers (fp32, fp16), a session that ONNX Runtime moved to another provider
    than the one asked for refused, and the fp16 towers within the fidelity bar of PyTorch fp32."""
    monkeypatch.setattr(cuda, "_ort_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    base = open_runtime(tiny_checkpoints["pt"], "cpu")
    (onnx,) = cuda.cuda_runtimes(base, "onnxruntime")
    assert onnx.kind == "onnxruntime" and onnx.precisions() == ["fp32", "fp16"]
    with pytest.raises(UnsupportedError, match="could not run the image tower on CUDAExecutionProvider"):
        onnx.encoder("fp16")
    monkeypatch.setattr(cuda.CudaOnnxRuntime, "tower_providers", lambda *args: ["CPUExecutionProvider"])
    model, reference = open_model(onnx, "fp16"), open_model(base, "fp32")
    texts = ["一只猫", "红色的圆形在蓝色背景上"]
    assert (model.encode_texts(texts) * reference.encode_texts(texts)).sum(1).min() >= FIDELITY_BAR
    pixels = synthetic_batch(4, CONFIG.vision.image_size).pixels
    assert (model.encode_pixels(pixels) * reference.encode_pixels(pixels)).sum(1).min() >= FIDELITY_BAR


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_on_this_gpu_keeps_fidelity(tiny_checkpoints, monkeypatch):
    """Every GPU runtime installed here is measured (the suite narrows auto to PyTorch elsewhere)."""
    monkeypatch.delenv(loader.RUNTIMES_ENV)
    model = zhclip.load(tiny_checkpoints["pt"], device="cuda", precision="auto")
    reference = zhclip.load(tiny_checkpoints["pt"], device="cpu", precision="fp32")
    texts = ["一只猫", "红色的圆形在蓝色背景上"]
    cosine = (model.encode_texts(texts) * reference.encode_texts(texts)).sum(1)
    assert cosine.min() >= FIDELITY_BAR, (model.paths, cosine)
    pixels = synthetic_batch(4, CONFIG.vision.image_size).pixels
    cosine = (model.encode_pixels(pixels) * reference.encode_pixels(pixels)).sum(1)
    assert cosine.min() >= FIDELITY_BAR, (model.paths, cosine)


def test_gpu_memory_outside_pytorch_is_read_from_nvml(monkeypatch):
    """ONNX Runtime's and TensorRT's GPU memory: NVML's count of this process, else of the whole GPU (a
    container's process ids are not the driver's), else unknown."""
    own = SimpleNamespace(pid=os.getpid(), usedGpuMemory=3 * 2**30)
    nvml = SimpleNamespace(
        nvmlDeviceGetHandleByIndex=lambda index: f"gpu{index}",
        nvmlDeviceGetComputeRunningProcesses=lambda handle: [SimpleNamespace(pid=1, usedGpuMemory=1), own],
        nvmlDeviceGetMemoryInfo=lambda handle: SimpleNamespace(used=5 * 2**30),
    )
    monkeypatch.setattr(gpu, "_nvml", lambda: nvml)
    assert gpu.process_memory_mb(0) == (3072.0, "NVML: this process")
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda handle: []
    assert gpu.process_memory_mb(0) == (5120.0, "NVML: all in use on the GPU")
    monkeypatch.setattr(gpu, "_nvml", lambda: None)
    assert gpu.process_memory_mb(0) is None
