"""The same weights give the same embeddings from every format, and match transformers' own model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import ChineseCLIPModel, ChineseCLIPProcessor

import zhclip
from zhclip.models import ClipConfig, arch_config, random_model, read_weights, save_cnclip

TEXTS = ["一只红色的猫坐在沙发上", "蓝色方形在红色圆形的左边", "Hello World，你好！", "长" * 80]


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(80, 120), (64, 64), (33, 90)]
    ]


def test_all_formats_give_the_same_embeddings(tiny_checkpoints, images):
    results = {}
    for kind, path in tiny_checkpoints.items():
        model = zhclip.load(path, device="cpu")
        assert model.arch == "tiny"
        results[kind] = (model.encode_images(images), model.encode_texts(TEXTS))
    ref_img, ref_txt = results["pt"]
    assert ref_img.shape == (3, 64) and ref_txt.shape == (4, 64)
    assert ref_img.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ref_txt, axis=1), 1.0, atol=1e-5)
    for img, txt in results.values():
        assert np.abs(img - ref_img).max() < 1e-5
        assert np.abs(txt - ref_txt).max() < 1e-5


def test_matches_transformers_chinese_clip_forward(tiny_checkpoints, images):
    ours = zhclip.load(tiny_checkpoints["pt"], device="cpu")
    hf = ChineseCLIPModel.from_pretrained(tiny_checkpoints["hf"]).eval()
    processor = ChineseCLIPProcessor.from_pretrained(tiny_checkpoints["hf"])
    inputs = processor(
        text=TEXTS, images=images, return_tensors="pt", padding="max_length", max_length=52, truncation=True
    )
    with torch.no_grad():
        text = hf.get_text_features(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            token_type_ids=inputs["token_type_ids"],
        )
        image = hf.get_image_features(pixel_values=inputs["pixel_values"])
    text, image = (getattr(t, "pooler_output", t) for t in (text, image))  # transformers may return an output object
    text = torch.nn.functional.normalize(text, dim=-1).numpy()
    image = torch.nn.functional.normalize(image, dim=-1).numpy()
    assert torch.equal(inputs["input_ids"], ours.tokenizer(TEXTS))
    assert np.abs(ours.encode_texts(TEXTS) - text).max() < 1e-5
    assert np.abs(ours.encode_images(images) - image).max() < 1e-5


def test_similarity_is_cosine(tiny_checkpoints, images):
    model = zhclip.load(tiny_checkpoints["hf"], device="cpu")
    a, b = model.encode_images(images), model.encode_texts(TEXTS)
    sims = model.similarity(a, b)
    assert sims.shape == (3, 4)
    assert sims[1, 2] == pytest.approx(float(a[1] @ b[2]), abs=1e-6)
    assert np.all(np.abs(sims) <= 1.0 + 1e-5)


def test_image_paths_and_pil_agree(tmp_path, tiny_checkpoints, images):
    model = zhclip.load(tiny_checkpoints["pt"], device="cpu")
    path = tmp_path / "x.png"
    images[0].save(path)
    assert np.abs(model.encode_images([path]) - model.encode_images(images[:1])).max() < 1e-6


def test_batching_does_not_change_results(tiny_checkpoints, images):
    model = zhclip.load(tiny_checkpoints["pt"], device="cpu")
    np.testing.assert_allclose(model.encode_texts(TEXTS, batch_size=1), model.encode_texts(TEXTS), atol=1e-5)
    np.testing.assert_allclose(model.encode_images(images, batch_size=2), model.encode_images(images), atol=1e-5)


def test_architecture_inferred_from_shapes_or_given(tiny_checkpoints, tmp_path):
    assert read_weights(tiny_checkpoints["pth"]).config.name == "tiny"
    assert read_weights(tiny_checkpoints["pth"], arch="tiny").config.name == "tiny"
    custom = ClipConfig.from_dict({**arch_config("tiny").to_dict(), "embed_dim": 48})
    custom.vision.head_width = 64
    custom.text.heads = 1
    net = random_model(custom, seed=0)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "c.pt")
    inferred = read_weights(tmp_path / "c.pt").config
    assert inferred.name == "custom" and inferred.embed_dim == 48 and inferred.same_shapes(custom)


def test_bf16_is_close_to_fp32(tiny_checkpoints):
    fp32 = zhclip.load(tiny_checkpoints["pt"], device="cpu").encode_texts(TEXTS)
    bf16 = zhclip.load(tiny_checkpoints["pt"], device="cpu", precision="bf16").encode_texts(TEXTS)
    assert bf16.dtype == np.float32
    assert float(np.mean(np.sum(fp32 * bf16, axis=1))) > 0.99


def test_pooler_and_module_prefix_are_handled(tiny_network, tmp_path):
    sd = {f"module.{k}": v for k, v in tiny_network.state_dict().items()}
    sd["module.bert.pooler.dense.weight"] = torch.zeros(64, 64)
    sd["module.bert.pooler.dense.bias"] = torch.zeros(64)
    torch.save({"epoch": 1, "step": 5, "name": "run", "state_dict": sd, "optimizer": {}}, tmp_path / "p.pt")
    weights = read_weights(tmp_path / "p.pt")
    assert not any("pooler" in k for k in weights.state_dict)
    save_cnclip(weights.state_dict, weights.config, tmp_path / "q.pt")
    assert zhclip.load(tmp_path / "q.pt").arch == "tiny"


def test_separate_projections_compute_the_same_attention(tiny_network):
    from zhclip.models.network import separate_projections

    pixels = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        fused = tiny_network.eval().encode_image(pixels)
        with pytest.raises(KeyError), separate_projections(tiny_network):
            separate = tiny_network.encode_image(pixels)
            raise KeyError  # the flag is reset however the block ends
        again = tiny_network.encode_image(pixels)
    assert torch.allclose(fused, separate, atol=1e-5)
    assert not any(getattr(m, "separate", False) for m in tiny_network.modules())
    assert torch.equal(fused, again)
