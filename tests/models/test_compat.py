"""The user's cn_clip snippet runs unchanged on zhclip.compat."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import zhclip
from zhclip import compat
from zhclip.errors import ModelNotAvailableError


def test_available_models_match_chinese_clip():
    assert {"ViT-B-16", "ViT-L-14", "ViT-L-14-336", "ViT-H-14"} <= set(compat.available_models())


def test_user_snippet_with_local_checkpoint(tiny_checkpoints, tmp_path):
    shutil.copy(tiny_checkpoints["pth"], tmp_path / "team_distill.pth")
    # The user's code, as written for cn_clip:
    model, preprocess = compat.load_from_name(str(tiny_checkpoints["pt"]), device="cpu", download_root=str(tmp_path))
    model.load_state_dict(torch.load(tmp_path / "team_distill.pth"))
    model.eval()
    image = preprocess(Image.new("RGB", (100, 60), (200, 30, 30))).unsqueeze(0)
    text = compat.tokenize(["皮卡丘", "杰尼龟", "妙蛙种子", "小火龙"])
    with torch.no_grad():
        image_features = model.encode_image(image)
        text_features = model.encode_text(text)
        image_features /= image_features.norm(dim=-1, keepdim=True)
        text_features /= text_features.norm(dim=-1, keepdim=True)
        logits_per_image, logits_per_text = model.get_similarity(image, text)
        probs = logits_per_image.softmax(dim=-1).cpu().numpy()
    assert probs.shape == (1, 4) and np.isclose(probs.sum(), 1.0, atol=1e-5)
    assert torch.allclose(logits_per_text, logits_per_image.t())
    ours = zhclip.load(tiny_checkpoints["pt"], device="cpu")
    np.testing.assert_allclose(
        text_features.numpy(), ours.encode_texts(["皮卡丘", "杰尼龟", "妙蛙种子", "小火龙"]), atol=1e-5
    )
    expected = 100 * ours.encode_images([Image.new("RGB", (100, 60), (200, 30, 30))]) @ text_features.numpy().T
    np.testing.assert_allclose(logits_per_image.numpy() / model.logit_scale.exp().item() * 100, expected, atol=1e-3)


def test_zoo_name_uses_download_root(tiny_checkpoints, tmp_path):
    shutil.copy(tiny_checkpoints["pt"], tmp_path / "clip_cn_vit-b-16.pt")
    model, preprocess = compat.load_from_name("ViT-B-16", device="cpu", download_root=str(tmp_path))
    assert model.config.name == "tiny" and preprocess.size == 64


def test_zoo_name_offline_without_weights_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotAvailableError, match="local directory|pass DIR"):
        compat.load_from_name("ViT-B-16", device="cpu", download_root=str(tmp_path))
