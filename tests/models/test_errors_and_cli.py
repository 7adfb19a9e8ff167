"""Every user mistake gives one clear message naming the file, a non-zero exit, and no traceback."""

from __future__ import annotations

import json
import os

import pytest
import torch

import zhclip
from tests.conftest import run_cli
from zhclip.errors import InputError, NumericsError


def assert_user_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_missing_file(tmp_path):
    assert_user_error(run_cli("info", tmp_path / "nope.pt"), "nope.pt", "no such file")


def test_not_a_checkpoint(tmp_path, cli):
    (tmp_path / "notes.pt").write_text("hello")
    assert_user_error(cli("info", tmp_path / "notes.pt"), "notes.pt", "not a readable checkpoint")


def test_truncated_checkpoint(tiny_checkpoints, tmp_path, cli):
    data = tiny_checkpoints["pt"].read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    assert_user_error(cli("info", tmp_path / "cut.pt"), "cut.pt", "not a readable checkpoint")


def test_keys_that_fit_no_architecture(tmp_path, cli):
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    assert_user_error(cli("info", tmp_path / "other.pth"), "other.pth", "not a Chinese-CLIP checkpoint")


def test_shapes_that_do_not_fit_the_given_arch(tiny_checkpoints, cli):
    assert_user_error(
        cli("info", tiny_checkpoints["pt"], "--arch", "ViT-B-16"),
        "tiny.pt",
        "does not fit architecture 'ViT-B-16'",
        "shape",
    )


def test_unknown_arch(tiny_checkpoints, cli):
    assert_user_error(cli("info", tiny_checkpoints["pt"], "--arch", "ViT-X"), "unknown architecture 'ViT-X'")


def test_directory_that_is_not_a_model(tmp_path, cli):
    assert_user_error(cli("info", tmp_path), str(tmp_path), "no config.json")


def test_hf_dir_with_broken_config(tiny_checkpoints, tmp_path, cli):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert_user_error(cli("info", broken), "config.json", "not a ChineseCLIPModel config")


def test_unreadable_image(tiny_checkpoints, tmp_path, cli):
    (tmp_path / "fake.jpg").write_text("not an image")
    assert_user_error(
        cli("encode", "--model", tiny_checkpoints["pt"], "--image", tmp_path / "fake.jpg"),
        "fake.jpg",
        "cannot decode image",
    )


def test_empty_inputs(tiny_checkpoints, cli):
    assert_user_error(cli("encode", "--model", tiny_checkpoints["pt"]), "--text or --image")
    model = zhclip.load(tiny_checkpoints["pt"])
    with pytest.raises(InputError, match="empty list of texts"):
        model.encode_texts([])
    with pytest.raises(InputError, match="empty list of images"):
        model.encode_images([])


def test_non_finite_embeddings_raise_naming_the_tower(tiny_checkpoints, monkeypatch):
    model = zhclip.load(tiny_checkpoints["pt"])
    pixels = torch.zeros(2, 3, model.image_size, model.image_size)
    assert model.encode_pixels(pixels).shape == (2, model.embed_dim)
    nan = torch.full((2, model.embed_dim), float("nan"))
    monkeypatch.setattr(model.network, "encode_image", lambda _: nan)
    monkeypatch.setattr(model.network, "encode_text", lambda _: nan.clone().fill_(float("inf")))
    with pytest.raises(NumericsError, match=r"the image tower \(torch-fp32, .*tiny.pt\)"):
        model.encode_pixels(pixels)
    with pytest.raises(NumericsError, match=r"the text tower \(torch-fp32"):
        model.encode_texts(["红色的圆", "蓝色方块"])


def test_unsupported_precision(tiny_checkpoints, cli):
    assert_user_error(cli("info", tiny_checkpoints["pt"], "--precision", "fp16"), "supported here")


def test_hub_id_offline_says_how_to_supply_a_directory(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "zhclip", "info", "OFA-Sys/chinese-clip-vit-base-patch16"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert_user_error(
        result, "OFA-Sys/chinese-clip-vit-base-patch16", "not in the local Hugging Face cache", "--local-dir"
    )


def test_info_prints_the_facts(tiny_checkpoints, cli):
    result = cli("info", tiny_checkpoints["hf"], "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["architecture"] == "tiny" and facts["embed_dim"] == 64 and facts["image_resolution"] == 64
    assert facts["parameters"] == sum(v.numel() for v in zhclip.load(tiny_checkpoints["pt"]).network.parameters())
    assert facts["precision"] == "fp32"


def test_encode_prints_similarities(tiny_checkpoints, tmp_path, cli):
    from PIL import Image

    Image.new("RGB", (50, 50), "red").save(tmp_path / "red.png")
    result = cli(
        "encode",
        "--model",
        tiny_checkpoints["pt"],
        "--image",
        tmp_path / "red.png",
        "--text",
        "红色",
        "--text",
        "蓝色",
        "--out",
        tmp_path / "e.npz",
    )
    assert result.returncode == 0, result.stderr
    assert "red.png" in result.stdout
    import numpy as np

    saved = np.load(tmp_path / "e.npz")
    assert saved["texts"].shape == (2, 64) and saved["images"].shape == (1, 64)
