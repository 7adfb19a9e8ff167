"""Tokenisation and preprocessing follow Chinese-CLIP (checked against transformers' implementations)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers import BertTokenizer, ChineseCLIPImageProcessorPil

from zhclip.compat import image_transform, tokenize
from zhclip.models import ImageTransform, Tokenizer
from zhclip.models.tokenizer import BUNDLED_VOCAB

HF_TOKENIZER = BertTokenizer(str(BUNDLED_VOCAB))


def reference_ids(text: str, length: int = 52) -> list[int]:
    ids = HF_TOKENIZER.convert_tokens_to_ids(HF_TOKENIZER.tokenize(text))[: length - 2]
    ids = [101, *ids, 102]
    return ids + [0] * (length - len(ids))


def test_vocabulary_is_bert_chinese():
    tok = Tokenizer()
    assert tok.vocab_size == 21128
    assert (tok.cls_id, tok.sep_id) == (101, 102)


def test_known_sentences():
    tok = Tokenizer()
    for text in ["一只红色的猫", "Hello WORLD café，2024年!", "", "   ", "😀 emoji 和 中文", "ＡＢＣ全角"]:
        assert tok(text)[0].tolist() == reference_ids(text), text


def test_truncation_and_padding():
    ids = Tokenizer()(["长" * 100, "短"])
    assert ids.shape == (2, 52)
    assert ids[0, 0] == 101 and ids[0, 51] == 102 and (ids[0] != 0).all()
    assert ids[1].tolist() == reference_ids("短")
    assert (ids[1, 3:] == 0).all()
    assert tokenize(["短"], context_length=10).shape == (1, 10)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_matches_reference_on_arbitrary_text(text):
    assert Tokenizer()(text)[0].tolist() == reference_ids(text)


def test_transform_matches_hf_processor():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (97, 151, 3), dtype=np.uint8))
    processor = ChineseCLIPImageProcessorPil(size={"height": 224, "width": 224}, do_center_crop=False, resample=3)
    expected = processor(images=[image], return_tensors="pt")["pixel_values"][0]
    ours = image_transform(224)(image)
    assert ours.shape == (3, 224, 224)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_transform_converts_modes():
    t = ImageTransform(32)
    for mode in ["L", "RGBA", "P", "CMYK", "I;16"]:
        assert t(Image.new(mode, (40, 20))).shape == (3, 32, 32), mode
