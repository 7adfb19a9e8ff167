"""PyTorch precisions: int8 and bf16 fidelity, clear errors, `auto` measured once and cached."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import zhclip
from tests.conftest import run_cli
from zhclip.models import Tokenizer
from zhclip.runtime import auto as autoselect
from zhclip.runtime import plans
from zhclip.runtime.measure import mean_cosine
from zhclip.runtime.quantize import quantize_int8
from zhclip.runtime.torch import TorchRuntime

TEXTS = ["一只红色的圆形", "蓝色方块在左边，黄色五角星在右边"]


@pytest.fixture(scope="module")
def reference(tiny_checkpoints):
    return zhclip.load(tiny_checkpoints["pt"], device="cpu")


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_fidelity_on_tiny_model(tiny_checkpoints, reference, precision):
    model = zhclip.load(tiny_checkpoints["pt"], device="cpu", precision=precision)
    assert model.precision == precision
    pixels = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert mean_cosine(model.encode_pixels(pixels), reference.encode_pixels(pixels)) >= 0.99
    assert mean_cosine(model.encode_texts(TEXTS), reference.encode_texts(TEXTS)) >= 0.99


def test_int8_quantizes_every_linear_including_fused_qkv(tiny_network):
    quantized = quantize_int8(tiny_network)
    assert not [n for n, m in quantized.named_modules() if type(m) is nn.Linear]
    assert "in_proj" in dict(quantized.visual.transformer.resblocks[0].attn.named_children())
    assert type(tiny_network.visual.transformer.resblocks[0].attn).__name__ == "FusedSelfAttention"  # untouched


def test_padding_is_trimmed_without_changing_embeddings(reference):
    ids = reference.tokenizer(TEXTS)
    short = ids[:, : int((ids != 0).sum(1).max())]
    with torch.inference_mode():
        full = reference.network.encode_text(ids)
        trimmed = reference.network.encode_text(short)
    assert mean_cosine(full, trimmed) > 0.99999
    assert mean_cosine(reference.encode_ids(ids), full) > 0.99999


def test_unsupported_precision_names_supported_ones(tiny_checkpoints):
    with pytest.raises(zhclip.UnsupportedError, match="supported here: fp32, bf16, int8, auto"):
        zhclip.load(tiny_checkpoints["pt"], device="cpu", precision="fp16")
    result = run_cli(
        "encode", "--model", tiny_checkpoints["pt"], "--text", "猫", "--precision", "fp8", "--device", "cpu"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'fp8'" in result.stderr and "supported here: fp32, bf16, int8, auto" in result.stderr


def _runtime(network):
    return TorchRuntime(network, torch.device("cpu"), Tokenizer(None, network.config.context_length))


def _result(image_speedup, image_fidelity, text_speedup, text_fidelity):
    return {
        "image_speedup": image_speedup,
        "image_fidelity": image_fidelity,
        "text_speedup": text_speedup,
        "text_fidelity": text_fidelity,
    }


def test_auto_picks_fastest_path_per_tower_that_keeps_fidelity(monkeypatch, tiny_network, isolated_cache):
    canned = {
        "torch-fp32": _result(1.0, 1.0, 1.0, 1.0),
        "torch-bf16": _result(0.5, 0.9999, 2.0, 0.9999),
        "torch-int8": _result(3.0, 0.95, 3.0, 0.999),
    }
    monkeypatch.setattr(autoselect, "measure_candidates", lambda candidates, probe: canned)
    plan = autoselect.choose_plan([_runtime(tiny_network)])
    assert plan == {"image": "torch-fp32", "text": "torch-int8"}  # int8 misses the bar on images only
    canned["torch-int8"]["image_fidelity"] = 0.995
    assert autoselect.choose_plan([_runtime(tiny_network)]) == plan  # cached: not measured again
    (isolated_cache / plans.CACHE_FILE).unlink()
    assert autoselect.choose_plan([_runtime(tiny_network)]) == {"image": "torch-int8", "text": "torch-int8"}


def test_auto_measures_real_paths_once(tiny_checkpoints, isolated_cache):
    model = zhclip.load(tiny_checkpoints["pt"], device="cpu", precision="auto")
    cache = json.loads((isolated_cache / plans.CACHE_FILE).read_text())
    (entry,) = cache.values()
    assert model.paths == entry["plan"]
    assert set(entry["results"]) == {"torch-fp32", "torch-bf16", "torch-int8"}
    assert entry["results"]["torch-fp32"] == _result(1.0, 1.0, 1.0, 1.0)
    assert model.precision in ("fp32", "bf16", "int8", "mixed")
