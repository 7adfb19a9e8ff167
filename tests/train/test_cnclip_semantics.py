"""One training step of zhclip's network against the official `cn_clip` model on the same weights and batch.

`cn_clip` (PyPI) is installed without its dependencies (its `lmdb==1.3.0` pin and torchvision do not fit this
environment); its model code needs neither, only its package `__init__`, which imports torchvision for image
transforms. Without torchvision the model modules are imported directly, package init skipped.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from zhclip.models import arch_config, random_model
from zhclip.models.network import BertSelfAttention
from zhclip.train.losses import clip_loss

pytest.importorskip("cn_clip")


def _cn_clip_modules():
    try:
        from cn_clip.clip import model, modeling_bert
    except ImportError:  # torchvision missing: load the model modules without cn_clip.clip's __init__
        root = Path(importlib.util.find_spec("cn_clip").submodule_search_locations[0]) / "clip"
        package = types.ModuleType("cn_clip.clip")
        package.__path__ = [str(root)]
        sys.modules["cn_clip.clip"] = package
        from cn_clip.clip.bert_tokenizer import FullTokenizer

        package._tokenizer = FullTokenizer()
        from cn_clip.clip import model, modeling_bert
    return model, modeling_bert


CN_MODEL, CN_BERT = _cn_clip_modules()


def _pair(dropout: float):
    """zhclip's tiny network and cn_clip's CLIP of the same shapes holding the same weights."""
    config = arch_config("tiny")
    config.text = replace(config.text, dropout=dropout)
    ours = random_model(config, seed=3)
    v, t = config.vision, config.text
    theirs = CN_MODEL.CLIP(
        embed_dim=config.embed_dim,
        image_resolution=v.image_size,
        vision_layers=v.layers,
        vision_width=v.width,
        vision_patch_size=v.patch_size,
        vision_head_width=v.head_width,
        vocab_size=t.vocab_size,
        text_attention_probs_dropout_prob=dropout,
        text_hidden_act="gelu",
        text_hidden_dropout_prob=dropout,
        text_hidden_size=t.hidden_size,
        text_initializer_range=0.02,
        text_intermediate_size=t.intermediate_size,
        text_max_position_embeddings=t.max_positions,
        text_num_attention_heads=t.heads,
        text_num_hidden_layers=t.layers,
        text_type_vocab_size=t.type_vocab_size,
    )
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours.train(), theirs.train()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(8, 3, 64, 64, generator=generator)
    ids = torch.randint(1, 21128, (8, 14), generator=generator)
    ids[::2, 9:] = 0  # padded rows: the attention mask matters
    return pixels, ids


def _step(network: torch.nn.Module, pixels: torch.Tensor, ids: torch.Tensor):
    """Loss and gradients of one contrastive step; the same seed makes dropout draw the same masks."""
    torch.manual_seed(42)
    image, text, scale = network(pixels, ids)
    loss = clip_loss(image, text, scale)
    network.zero_grad()
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in network.named_parameters() if p.grad is not None}


def _assert_same_step(dropout: float) -> float:
    ours, theirs = _pair(dropout)
    pixels, ids = _batch()
    our_loss, our_grads = _step(ours, pixels, ids)
    their_loss, their_grads = _step(theirs, pixels, ids)
    assert our_loss == pytest.approx(their_loss, abs=1e-6)
    assert set(our_grads) == set(their_grads) and len(our_grads) > 60
    for name, grad in our_grads.items():
        assert torch.allclose(grad, their_grads[name], atol=1e-5, rtol=1e-4), name
    return our_loss


def test_training_step_matches_cn_clip_without_dropout():
    _assert_same_step(0.0)


def test_training_step_matches_cn_clip_with_dropout():
    """Hidden and attention-probability dropout at Chinese-CLIP's 0.1 draw the same masks as cn_clip's BERT;
    the step differs from the dropout-free one, so the masks were applied."""
    assert _assert_same_step(0.1) != pytest.approx(_assert_same_step(0.0), abs=1e-4)


def _dropped_attention_share(attention: torch.nn.Module, forward) -> float:
    """Share of attention probabilities dropped: queries and keys are zero (uniform probabilities), values
    are one-hot per position, so each output row is that query's (dropped, rescaled) probability row."""
    length = attention.query.in_features
    with torch.no_grad():
        for layer in (attention.query, attention.key):
            layer.weight.zero_()
            layer.bias.zero_()
        attention.value.weight.copy_(torch.eye(length))
        attention.value.bias.zero_()
    x = torch.eye(length).expand(200, length, length)
    torch.manual_seed(0)
    with torch.no_grad():
        probabilities = forward(x)
    assert torch.allclose(probabilities.sum(-1).mean(), torch.tensor(1.0), atol=0.02)  # rescaled by 1/(1-p)
    return (probabilities == 0).float().mean().item()


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_attention_dropout_rate_in_effect_is_the_configured_one(rate):
    ours = BertSelfAttention(64, 2, 32, rate).train()
    mask = torch.ones(1, 1, 1, 64, dtype=torch.bool)
    our_share = _dropped_attention_share(ours, lambda x: ours(x, mask))
    config = CN_BERT.BertConfig(21128, hidden_size=64, num_attention_heads=2, attention_probs_dropout_prob=rate)
    theirs = CN_BERT.BertSelfAttention(config).train()
    their_share = _dropped_attention_share(theirs, lambda x: theirs(x)[0])
    assert our_share == pytest.approx(rate, abs=0.01)
    assert their_share == pytest.approx(rate, abs=0.01)
    ours.eval()
    assert _dropped_attention_share(ours, lambda x: ours(x, mask)) == 0.0


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_patch_dropout_matches_cn_clip_flip_masking(rate):
    """--patch-dropout R keeps the same patches as cn_clip's `mask_ratio=R` under the same seed."""
    ours, theirs = _pair(0.0)
    pixels, _ = _batch()
    ours.set_patch_dropout(rate)
    torch.manual_seed(5)
    mine = ours.encode_image(pixels)
    torch.manual_seed(5)
    reference = theirs.encode_image(pixels, mask_ratio=rate)
    assert torch.allclose(mine, reference, atol=1e-5)
    assert not torch.allclose(mine, theirs.encode_image(pixels), atol=1e-3)
