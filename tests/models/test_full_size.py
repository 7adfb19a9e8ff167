"""The real ViT-B-16 + RoBERTa-base architecture (random weights): parameter count, formats, transformers parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import zhclip
from tests.conftest import run_cli
from zhclip.models import random_model, save_cnclip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vit_b16_pt(tmp_path_factory):
    net = random_model("ViT-B-16", seed=0)
    path = tmp_path_factory.mktemp("vitb16") / "clip_cn_vit-b-16.pt"
    save_cnclip(net.state_dict(), net.config, path)
    return path


def test_parameter_count_and_info(vit_b16_pt):
    result = run_cli("info", vit_b16_pt, "--json")
    assert result.returncode == 0, result.stderr
    import json

    facts = json.loads(result.stdout)
    assert facts["architecture"] == "ViT-B-16"
    assert facts["parameters"] == 188_262_913
    assert facts["embed_dim"] == 512 and facts["image_resolution"] == 224


def test_hf_conversion_matches_transformers(vit_b16_pt, tmp_path):
    from transformers import ChineseCLIPModel

    assert run_cli("convert", vit_b16_pt, tmp_path / "hf", "--to", "hf").returncode == 0
    ours = zhclip.load(vit_b16_pt, device="cpu")
    from_hf_dir = zhclip.load(tmp_path / "hf", device="cpu")
    hf = ChineseCLIPModel.from_pretrained(tmp_path / "hf").eval()
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8))
    texts = ["一只在草地上奔跑的小狗", "夜晚的城市街道"]
    pixels = ours.transform(image).unsqueeze(0)
    ids = ours.tokenizer(texts)
    with torch.no_grad():
        ref_img = hf.get_image_features(pixel_values=pixels)
        ref_txt = hf.get_text_features(input_ids=ids, attention_mask=(ids != 0).long())
    ref_img, ref_txt = (
        torch.nn.functional.normalize(getattr(t, "pooler_output", t), dim=-1).numpy() for t in (ref_img, ref_txt)
    )
    for model in (ours, from_hf_dir):
        assert np.abs(model.encode_images([image]) - ref_img).max() < 1e-5
        assert np.abs(model.encode_texts(texts) - ref_txt).max() < 1e-5
