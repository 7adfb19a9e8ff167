"""`zhclip convert` in both directions is bit-exact, and the outputs are what each ecosystem reads."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file
from transformers import ChineseCLIPModel

from tests.conftest import run_cli
from zhclip.models import random_model, read_weights, save_cnclip


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


def test_pt_to_hf_to_pt_is_bit_exact(tiny_checkpoints, tmp_path):
    assert run_cli("convert", tiny_checkpoints["pt"], tmp_path / "hf", "--to", "hf").returncode == 0
    assert run_cli("convert", tmp_path / "hf", tmp_path / "back.pt", "--to", "cnclip").returncode == 0
    assert_same_tensors(read_weights(tiny_checkpoints["pt"]).state_dict, read_weights(tmp_path / "back.pt").state_dict)
    raw = torch.load(tmp_path / "back.pt", weights_only=True)
    assert {"epoch", "step", "name", "state_dict"} <= raw.keys()
    assert all(k.startswith("module.") for k in raw["state_dict"])


def test_hf_to_pt_to_hf_is_bit_exact(tiny_checkpoints, tmp_path, cli):
    assert cli("convert", tiny_checkpoints["hf"], tmp_path / "x.pt", "--to", "cnclip").returncode == 0
    assert cli("convert", tmp_path / "x.pt", tmp_path / "hf2", "--to", "hf").returncode == 0
    assert_same_tensors(
        load_file(tiny_checkpoints["hf"] / "model.safetensors"),
        load_file(tmp_path / "hf2" / "model.safetensors"),
    )


def test_half_precision_source_keeps_its_dtype(tiny_network, tmp_path, cli):
    half = {k: v.half() for k, v in tiny_network.state_dict().items()}
    save_cnclip(half, tiny_network.config, tmp_path / "half.pt")
    assert cli("convert", tmp_path / "half.pt", tmp_path / "hf", "--to", "hf").returncode == 0
    assert_same_tensors(half, read_weights(tmp_path / "hf").state_dict)


def test_hf_output_loads_in_transformers_with_square_resize(tiny_checkpoints, tmp_path):
    model = ChineseCLIPModel.from_pretrained(tiny_checkpoints["hf"])
    assert model.config.projection_dim == 64
    pre = json.loads((tiny_checkpoints["hf"] / "preprocessor_config.json").read_text())
    assert pre["size"] == {"height": 64, "width": 64} and pre["do_center_crop"] is False
    assert (tiny_checkpoints["hf"] / "vocab.txt").read_text().count("\n") == 21128


def test_convert_with_explicit_arch(tiny_checkpoints, tmp_path, cli):
    result = cli("convert", tiny_checkpoints["pth"], tmp_path / "o.pt", "--to", "cnclip", "--arch", "tiny")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout


def test_random_model_is_seeded():
    a, b = random_model("tiny", seed=3).state_dict(), random_model("tiny", seed=3).state_dict()
    assert_same_tensors(a, b)
