"""Every runtime behind one loader: conversions built once and cached, per-tower `auto` across runtimes,
damaged cache entries rebuilt, and missing or unsuitable runtimes named."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch

import zhclip
from zhclip.models import factory
from zhclip.runtime import auto, load, openvino, plans
from zhclip.runtime.base import SplitEncoder
from zhclip.runtime.loader import EXPORT_CACHE
from zhclip.runtime.measure import mean_cosine
from zhclip.runtime.torch import fold_quick_gelu


@pytest.fixture(scope="module", autouse=True)
def no_nncf_in_this_process():
    """These tests run in the suite's process again (issue 29): its SIGSEGV was OpenVINO Cores released in the
    order made (see test_openvino_core.py), and conversions now run in a child process (`runtime.prepare`), so a
    process that opens models never imports NNCF."""
    yield
    assert "nncf" not in sys.modules, "NNCF was imported in the suite's process: conversions belong in the child"


TEXTS = ["一只红色的圆形", "蓝色方块在左边，黄色五角星在右边"]
PIXELS = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_cache(module_cache, monkeypatch):
    """One cache for the module: each conversion of the tiny weights is built once here, then reused."""
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(module_cache))
    return module_cache


@pytest.fixture(scope="module")
def reference(tiny_checkpoints):
    return zhclip.load(tiny_checkpoints["pt"], device="cpu")


@pytest.fixture
def all_runtimes(monkeypatch):
    monkeypatch.delenv("ZHCLIP_RUNTIMES", raising=False)


def _close(model, reference, bar=0.99):
    assert mean_cosine(model.encode_pixels(PIXELS), reference.encode_pixels(PIXELS)) >= bar
    assert mean_cosine(model.encode_texts(TEXTS), reference.encode_texts(TEXTS)) >= bar


def test_folded_quick_gelu_computes_the_same_function(tiny_network):
    import copy

    folded = fold_quick_gelu(copy.deepcopy(tiny_network)).eval()
    assert not [m for m in folded.modules() if type(m).__name__ == "QuickGELU"]
    with torch.inference_mode():
        before, after = tiny_network.eval().encode_image(PIXELS), folded.encode_image(PIXELS)
    assert torch.allclose(before, after, atol=1e-5)
    saved = folded.state_dict()
    assert all(torch.allclose(saved[k], v, rtol=1e-6, atol=0) for k, v in tiny_network.state_dict().items())


@pytest.mark.parametrize(
    ("runtime", "precision"), [("onnxruntime", "int8"), ("openvino", "bf16"), ("openvino", "int8")]
)
def test_named_runtime_converts_once_and_keeps_fidelity(
    tiny_checkpoints, reference, isolated_cache, runtime, precision
):
    if runtime == "openvino" and precision not in openvino.cpu_precisions():
        pytest.skip(f"OpenVINO has no {precision} on this CPU (AVX2 only)")
    model = load(tiny_checkpoints["pt"], device="cpu", precision=precision, runtime=runtime)
    assert model.paths == {"image": f"{runtime}-{precision}", "text": f"{runtime}-{precision}"}
    assert model.fingerprint == reference.fingerprint  # a library indexed on PyTorch accepts it
    assert model.source == str(tiny_checkpoints["pt"])  # what a library records: the checkpoint, not the cache
    _close(model, reference)
    (export,) = (isolated_cache / "conversions" / EXPORT_CACHE).iterdir()
    stamp = (export / "complete.json").stat().st_mtime_ns
    load(tiny_checkpoints["pt"], device="cpu", precision=precision, runtime=runtime)
    assert (export / "complete.json").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_openvino_bf16_after_fp32_keeps_fidelity(tiny_checkpoints, reference, isolated_cache):
    """OpenVINO keys a compiled model by its path, not its precision hint: compiled for fp32, loaded again with
    the bf16 hint it gave NaN (2026.4), unless each hint has a cache folder of its own."""
    if "bf16" not in openvino.cpu_precisions():
        pytest.skip("OpenVINO has no bf16 on this CPU (AVX2 only)")
    _close(load(tiny_checkpoints["pt"], device="cpu", precision="fp32", runtime="openvino"), reference, bar=0.9999)
    _close(load(tiny_checkpoints["pt"], device="cpu", precision="bf16", runtime="openvino"), reference)


def test_openvino_model_encodes_from_several_threads_at_once(tiny_checkpoints, reference, isolated_cache):
    """A compiled model's own infer request is busy while one thread runs it ("Infer Request is busy")."""
    from concurrent.futures import ThreadPoolExecutor

    model = load(tiny_checkpoints["pt"], device="cpu", precision="fp32", runtime="openvino")
    expected = model.encode_texts(TEXTS)
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda _: model.encode_texts(TEXTS), range(32)))
    assert all(torch.allclose(torch.as_tensor(out), torch.as_tensor(expected), atol=1e-6) for out in outputs)


def test_openvino_compiled_cache_follows_the_files_and_the_settings(tmp_path):
    model, weights = tmp_path / "text.xml", tmp_path / "text.bin"
    model.write_text("<net/>")
    weights.write_bytes(b"1")
    first = openvino.compiled_cache_dir(model, {"INFERENCE_PRECISION_HINT": "f32"})
    assert openvino.compiled_cache_dir(model, {"INFERENCE_PRECISION_HINT": "f32"}) == first
    assert openvino.compiled_cache_dir(model, {"INFERENCE_PRECISION_HINT": "bf16"}) != first
    weights.write_bytes(b"22")  # the conversion was rebuilt
    assert openvino.compiled_cache_dir(model, {"INFERENCE_PRECISION_HINT": "f32"}) != first


def test_damaged_conversion_is_rebuilt_not_used(tiny_checkpoints, reference, isolated_cache):
    load(tiny_checkpoints["pt"], device="cpu", precision="fp32", runtime="onnxruntime")
    (export,) = (isolated_cache / "conversions" / EXPORT_CACHE).iterdir()
    image = export / "image.fp32.onnx"
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])  # a truncated file, as after a crash
    model = load(tiny_checkpoints["pt"], device="cpu", precision="fp32", runtime="onnxruntime")
    _close(model, reference, bar=0.9999)
    assert json.loads((export / "complete.json").read_text())["files"]["image.fp32.onnx"] == image.stat().st_size


def test_auto_chooses_per_tower_across_runtimes(tiny_checkpoints, reference, isolated_cache, all_runtimes):
    model = load(tiny_checkpoints["pt"], device="cpu", precision="auto")
    (entry,) = json.loads((isolated_cache / plans.CACHE_FILE).read_text()).values()
    kinds = {name.rsplit("-", 1)[0] for name in entry["results"]}
    assert kinds == {"torch", "onnxruntime", "openvino"}
    assert model.paths == entry["plan"]
    for tower, path in entry["plan"].items():
        assert entry["results"][path][f"{tower}_fidelity"] >= 0.99
        faster = [r for r in entry["results"].values() if (r[f"{tower}_fidelity"] or 0) >= 0.99]
        assert entry["results"][path][f"{tower}_speedup"] == max(r[f"{tower}_speedup"] for r in faster)
    if model.paths["image"] != model.paths["text"]:
        assert isinstance(model.network, SplitEncoder)
    _close(model, reference)


def test_missing_runtime_names_the_extra(tiny_checkpoints, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed: its import fails
    with pytest.raises(zhclip.UnsupportedError, match=r"pip install 'zhclip\[openvino\]'"):
        load(tiny_checkpoints["pt"], device="cpu", runtime="openvino")
    with pytest.raises(zhclip.UnsupportedError, match="unknown runtime 'tensorrt'; use auto, torch"):
        load(tiny_checkpoints["pt"], device="cpu", runtime="tensorrt")


def test_export_directory_does_not_run_on_torch(tiny_onnx):
    with pytest.raises(zhclip.UnsupportedError, match="runs on onnxruntime or openvino"):
        load(tiny_onnx, device="cpu", runtime="torch")


def test_openvino_runs_an_export_directory(tiny_onnx, reference):
    model = load(tiny_onnx, device="cpu", precision="fp32", runtime="openvino")
    assert model.paths["image"] == "openvino-fp32"
    _close(model, reference, bar=0.9999)


def test_text_only_load_reads_no_checkpoint_once_converted(
    tmp_path, tiny_network, reference, all_runtimes, monkeypatch
):
    from zhclip.models import read_weights, save_cnclip

    checkpoint = save_cnclip(tiny_network.state_dict(), tiny_network.config, tmp_path / "own.pt")
    measured = auto.measure_candidates
    faster_text = {"onnxruntime-int8": {"text_speedup": 50.0, "text_fidelity": 1.0}}  # auto picks a converted path

    def measure(candidates, probe):
        results = measured(candidates, probe)
        return {k: {**v, **faster_text.get(k, {})} for k, v in results.items()}

    monkeypatch.setattr(auto, "measure_candidates", measure)
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path / "cache"))  # a plan of its own
    full = load(checkpoint, device="cpu", precision="auto", choose=auto.choose_plan)  # measured here, remembered
    assert full.paths["text"] == "onnxruntime-int8" and full.source == str(checkpoint)
    monkeypatch.setattr(factory, "read_weights", lambda *a, **k: pytest.fail("the checkpoint was read"))
    text_only = load(checkpoint, device="cpu", precision="auto", towers=("text",))
    assert text_only.paths == {"text": full.paths["text"]} and text_only.fingerprint == full.fingerprint
    assert mean_cosine(text_only.encode_texts(TEXTS), reference.encode_texts(TEXTS)) >= 0.99
    with pytest.raises(zhclip.UnsupportedError, match="loaded for text only"):
        text_only.encode_pixels(PIXELS)
    checkpoint.write_bytes(checkpoint.read_bytes())  # touched: a changed file is read again
    monkeypatch.setattr(factory, "read_weights", read_weights)
    assert load(checkpoint, device="cpu", precision="auto", towers=("text",)).paths == full.paths


def test_whole_model_on_converted_paths_loads_without_the_checkpoint(
    tmp_path, tiny_network, reference, all_runtimes, monkeypatch
):
    from zhclip.models import save_cnclip

    checkpoint = save_cnclip(tiny_network.state_dict(), tiny_network.config, tmp_path / "own.pt")
    measured = auto.measure_candidates

    def measure(candidates, probe):  # auto puts both towers on ONNX Runtime int8, whatever the timings say
        results = measured(candidates, probe)
        results["onnxruntime-int8"].update(image_speedup=1e6, text_speedup=1e6, image_fidelity=1.0, text_fidelity=1.0)
        return results

    monkeypatch.setattr(auto, "measure_candidates", measure)
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path / "cache"))
    full = load(checkpoint, device="cpu", precision="auto", choose=auto.choose_plan)
    assert full.paths == {"image": "onnxruntime-int8", "text": "onnxruntime-int8"}
    monkeypatch.setattr(factory, "read_weights", lambda *a, **k: pytest.fail("the checkpoint was read"))
    again = load(checkpoint, device="cpu", precision="auto")
    assert again.paths == full.paths and again.fingerprint == full.fingerprint and again.source == str(checkpoint)
    _close(again, reference)


def test_openvino_int8_towers_are_converted_from_the_network(tiny_checkpoints, tiny_onnx, reference, isolated_cache):
    """From a checkpoint, OpenVINO's PyTorch frontend converts the towers: the text tower keeps each attention one
    op (fewer nodes: faster with dynamic shapes), the image tower computes q, k and v by three products (no split
    of one product's output); an export directory, without its network, is read from ONNX."""
    from zhclip.runtime.openvino import INT8_CACHE

    model = load(tiny_checkpoints["pt"], device="cpu", precision="int8", runtime="openvino")
    _close(model, reference)
    (from_network,) = (isolated_cache / "conversions" / INT8_CACHE).iterdir()
    load(tiny_onnx, device="cpu", precision="int8", runtime="openvino")
    (from_onnx,) = {*(isolated_cache / "conversions" / INT8_CACHE).iterdir()} - {from_network}
    assert "ScaledDotProductAttention" in (from_network / "text.xml").read_text()
    assert "ScaledDotProductAttention" not in (from_onnx / "text.xml").read_text()
    assert not re.search(r'type="(Variadic)?Split"', (from_network / "image.xml").read_text())
    assert re.search(r'type="(Variadic)?Split"', (from_onnx / "image.xml").read_text())


def test_openvino_activation_group_divides_every_text_layer_width():
    from dataclasses import replace

    from zhclip.models.config import arch_config
    from zhclip.runtime.openvino import activation_group

    vit = arch_config("ViT-B-16")
    assert activation_group(vit) == 256  # 768 and 3072 wide
    pruned = replace(vit, text=replace(vit.text, layer_heads=[10] * 12, layer_mlp_dims=[2304] * 12))
    assert activation_group(pruned) == 128  # 10 heads of 64: attention output 640 wide
    odd = replace(vit, text=replace(vit.text, layer_mlp_dims=[1000] * 12))
    assert activation_group(odd) is None  # OpenVINO's default then
