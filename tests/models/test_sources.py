"""Model sources where the Hugging Face hub is unreachable: `modelscope:<id>` from a ModelScope cache laid out
as the real one (no network), and error messages that name HF_ENDPOINT and how to supply a local copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import zhclip
from zhclip.errors import CheckpointError, ModelNotAvailableError
from zhclip.models.hub import MODELSCOPE_ARCHS
from zhclip.models.tokenizer import BUNDLED_VOCAB

pytest.importorskip("modelscope")

# What `vision_model_config.json` / `text_model_config.json` say in damo/multi-modal_clip-vit-base-patch16_zh.
VISION_CONFIG = {
    "embed_dim": 512,
    "image_resolution": 224,
    "vision_layers": 12,
    "vision_width": 768,
    "vision_patch_size": 16,
}
TEXT_CONFIG = {
    "vocab_size": 21128,
    "text_hidden_size": 768,
    "text_num_hidden_layers": 12,
    "text_num_attention_heads": 12,
}


def fill_modelscope_cache(cache, model_id: str, state_dict: dict, prefix: str = "module.") -> None:
    """One repository in ModelScope's cache layout: $MODELSCOPE_CACHE/models/<owner>/<name>/."""
    repo = cache / "models" / model_id
    repo.mkdir(parents=True)
    payload = {"epoch": 30, "step": 1000, "name": "clip", "state_dict": {prefix + k: v for k, v in state_dict.items()}}
    torch.save(payload, repo / "pytorch_model.bin")
    (repo / "vocab.txt").write_bytes(BUNDLED_VOCAB.read_bytes())
    (repo / "vision_model_config.json").write_text(json.dumps(VISION_CONFIG))
    (repo / "text_model_config.json").write_text(json.dumps(TEXT_CONFIG))
    (repo / "configuration.json").write_text(json.dumps({"framework": "pytorch", "task": "multi-modal-embedding"}))


@pytest.fixture
def modelscope_cache(tmp_path, monkeypatch, tiny_network):
    cache = tmp_path / "modelscope"
    sd = tiny_network.state_dict()
    fill_modelscope_cache(cache, "someone/multi-modal_clip-tiny_zh", sd)
    fill_modelscope_cache(cache, "someone/finetuned-clip", sd, prefix="clip_model.")
    fill_modelscope_cache(cache, "damo/multi-modal_clip-vit-base-patch16_zh", sd)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a download attempt would be an error, not a network call
    return cache


def test_modelscope_source_loads_from_the_cache(modelscope_cache, tiny_checkpoints):
    model = zhclip.load("modelscope:someone/multi-modal_clip-tiny_zh", device="cpu")
    reference = zhclip.load(tiny_checkpoints["pt"], device="cpu")
    assert model.source == "modelscope:someone/multi-modal_clip-tiny_zh"
    texts = ["一只橘猫", "海边的日落"]
    np.testing.assert_allclose(model.encode_texts(texts), reference.encode_texts(texts), atol=1e-6)
    finetuned = zhclip.load("modelscope:someone/finetuned-clip", device="cpu")  # `clip_model.` key prefix
    np.testing.assert_allclose(finetuned.encode_texts(texts), reference.encode_texts(texts), atol=1e-6)


def test_known_repositories_map_to_their_architecture(modelscope_cache):
    assert MODELSCOPE_ARCHS["damo/multi-modal_clip-vit-base-patch16_zh"] == "ViT-B-16"
    assert MODELSCOPE_ARCHS["iic/multi-modal_clip-vit-large-patch14_336_zh"] == "ViT-L-14-336"
    assert MODELSCOPE_ARCHS["damo/multi-modal_clip-vit-huge-patch14_zh"] == "ViT-H-14"
    # tiny weights under the ViT-B-16 repository's name: checked against ViT-B-16, so they do not fit
    with pytest.raises(CheckpointError, match="does not fit architecture 'ViT-B-16'"):
        zhclip.load("modelscope:damo/multi-modal_clip-vit-base-patch16_zh", device="cpu")


def test_modelscope_model_not_cached_offline_says_how_to_supply_it(modelscope_cache):
    with pytest.raises(ModelNotAvailableError) as caught:
        zhclip.load("modelscope:damo/multi-modal_clip-vit-huge-patch14_zh", device="cpu")
    message = str(caught.value)
    assert "ModelScope model 'damo/multi-modal_clip-vit-huge-patch14_zh'" in message
    assert "modelscope download --model damo/multi-modal_clip-vit-huge-patch14_zh --local_dir DIR" in message
    assert "DIR/pytorch_model.bin" in message and "MODELSCOPE_CACHE" in message


def test_malformed_modelscope_source():
    with pytest.raises(ModelNotAvailableError, match="expected modelscope:<owner>/<name>"):
        zhclip.load("modelscope:no-owner", device="cpu")


def test_hub_error_names_the_endpoint_and_the_mirror_setting(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "HF_ENDPOINT": "https://mirror.example"}
    result = subprocess.run(
        [sys.executable, "-m", "zhclip", "info", "OFA-Sys/chinese-clip-vit-base-patch16"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot be downloaded from https://mirror.example" in result.stderr
    assert "set HF_ENDPOINT to a mirror" in result.stderr and "modelscope:<id>" in result.stderr
