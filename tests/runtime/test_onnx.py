"""ONNX export: separate towers with a dynamic batch, fp32/fp16/int8, run by zhclip.load through ONNX Runtime."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest
import torch

import zhclip
from zhclip.runtime.measure import mean_cosine
from zhclip.runtime.onnx import MANIFEST, OnnxEncoder

TEXTS = ["一只红色的圆形", "蓝色方块在左边，黄色五角星在右边", "猫"]


@pytest.fixture(scope="module")
def reference(tiny_checkpoints):
    return zhclip.load(tiny_checkpoints["pt"], device="cpu")


@pytest.mark.parametrize("batch", [1, 5])
def test_fp32_matches_torch_at_any_batch(tiny_onnx, reference, batch):
    model = zhclip.load(tiny_onnx, device="cpu", precision="fp32")
    assert isinstance(model.network, OnnxEncoder)
    pixels = torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(batch))
    texts = (TEXTS * 2)[:batch]
    assert mean_cosine(model.encode_pixels(pixels), reference.encode_pixels(pixels)) >= 0.9999
    assert mean_cosine(model.encode_texts(texts), reference.encode_texts(texts)) >= 0.9999
    assert model.encode_pixels(pixels).shape == (batch, reference.embed_dim)


def test_axes_are_dynamic(tiny_onnx):
    image = onnx.load(str(tiny_onnx / "image.fp32.onnx"), load_external_data=False)
    text = onnx.load(str(tiny_onnx / "text.fp32.onnx"), load_external_data=False)
    assert image.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert [d.dim_param != "" for d in text.graph.input[0].type.tensor_type.shape.dim] == [True, True]


@pytest.mark.parametrize(("precision", "bar"), [("fp16", 0.999), ("int8", 0.99)])
def test_reduced_precisions_stay_close(tiny_onnx, reference, precision, bar):
    model = zhclip.load(tiny_onnx, device="cpu", precision=precision)
    pixels = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert mean_cosine(model.encode_pixels(pixels), reference.encode_pixels(pixels)) >= bar
    assert mean_cosine(model.encode_texts(TEXTS), reference.encode_texts(TEXTS)) >= bar


def test_int8_files_are_under_30_percent_of_fp32(tiny_onnx):
    def size(precision: str) -> int:
        return sum((tiny_onnx / f"{tower}.{precision}.onnx").stat().st_size for tower in ("image", "text"))

    assert size("int8") <= 0.3 * size("fp32")
    assert size("fp16") <= 0.6 * size("fp32")


def test_manifest_and_same_api(tiny_onnx, reference):
    manifest = json.loads((tiny_onnx / MANIFEST).read_text())
    assert set(manifest["files"]) == {"fp32", "fp16", "int8"}
    model = zhclip.load(tiny_onnx, device="cpu", precision="int8")
    assert model.config == reference.config
    assert model.num_params == reference.num_params
    sims = model.similarity(model.encode_texts(TEXTS), model.encode_texts(TEXTS))
    assert sims.shape == (3, 3)


def test_precision_not_exported_names_what_is(tmp_path, tiny_onnx):
    out = tmp_path / "only_int8"
    shutil.copytree(tiny_onnx, out)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"] = {"int8": manifest["files"]["int8"]}
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(zhclip.UnsupportedError, match="supported here: int8, auto"):
        zhclip.load(out, device="cpu", precision="fp32")
    (out / "text.int8.onnx").unlink()
    with pytest.raises(zhclip.CheckpointError, match="text.int8.onnx: listed in the export manifest but missing"):
        zhclip.load(out, device="cpu", precision="int8")


def test_unknown_export_precision_is_a_user_error(tmp_path, tiny_checkpoints):
    from tests.conftest import run_cli

    result = run_cli("export", "onnx", tiny_checkpoints["pt"], tmp_path / "x", "--precision", "fp8")
    assert result.returncode == 2 and "--precision" in result.stderr and "fp8" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_info_describes_an_export(tiny_onnx, reference):
    from tests.conftest import run_cli

    result = run_cli("info", tiny_onnx, "--precision", "int8", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["parameters"] == reference.num_params and facts["precision"] == "int8"
    assert facts["logit_scale"] == round(float(reference.network.logit_scale.detach().exp()), 4)
