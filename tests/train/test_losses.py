"""Loss functions against values computed by hand, and the distillation terms' zero at student == teacher."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from zhclip.models import random_model
from zhclip.train.config import DistillConfig, OptimConfig
from zhclip.train.distillation import DistillObjective, OnlineTeacher
from zhclip.train.losses import clip_loss, feature_alignment, interactive_contrastive, similarity_kl
from zhclip.train.optim import build_optimizer, cosine_factor, no_decay

IMAGE = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
TEXT = torch.tensor([[0.6, 0.8], [0.0, 1.0]])


def _ce(logits: list[float], label: int) -> float:
    return -logits[label] + math.log(sum(math.exp(x) for x in logits))


def _softmax(logits: list[float]) -> list[float]:
    z = sum(math.exp(x) for x in logits)
    return [math.exp(x) / z for x in logits]


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def test_clip_loss_matches_hand_computation():
    # logits = 2 * IMAGE @ TEXT.T = [[1.2, 0.0], [1.6, 2.0]]
    rows = (_ce([1.2, 0.0], 0) + _ce([1.6, 2.0], 1)) / 2
    cols = (_ce([1.2, 1.6], 0) + _ce([0.0, 2.0], 1)) / 2
    assert clip_loss(IMAGE, TEXT, 2.0).item() == pytest.approx((rows + cols) / 2, rel=1e-6)


def test_clip_loss_identical_pairs():
    assert clip_loss(IMAGE, IMAGE, 1.0).item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


def test_similarity_kl_matches_hand_computation():
    teacher_text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t_logits = [[3.0 / 2, 0.0], [0.0, 3.0 / 2]]  # teacher scale 3, temperature 2
    s_logits = [[1.2 / 2, 0.0], [1.6 / 2, 2.0 / 2]]  # student scale 2 on IMAGE @ TEXT.T
    rows = sum(_kl(_softmax(t), _softmax(s)) for t, s in zip(t_logits, s_logits, strict=True)) / 2
    t_cols = [list(c) for c in zip(*t_logits, strict=True)]
    s_cols = [list(c) for c in zip(*s_logits, strict=True)]
    cols = sum(_kl(_softmax(t), _softmax(s)) for t, s in zip(t_cols, s_cols, strict=True)) / 2
    got = similarity_kl(IMAGE, TEXT, 2.0, IMAGE, teacher_text, 3.0, temperature=2.0)
    assert got.item() == pytest.approx((rows + cols) / 2 * 4, rel=1e-5)


def test_similarity_kl_zero_for_identical_models():
    x = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    assert similarity_kl(x, y, 50.0, x, y, 50.0, 4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_feature_alignment_by_hand():
    student, teacher = torch.tensor([[0.6, 0.8], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert feature_alignment(student, teacher, "cosine").item() == pytest.approx((0.4 + 0.0) / 2)
    assert feature_alignment(student, teacher, "mse").item() == pytest.approx((0.16 + 0.64 + 0.0) / 2)


def test_interactive_contrastive_by_hand():
    # student image vs teacher text: 1 * IMAGE @ TEXT.T; student text vs teacher image: TEXT @ IMAGE.T
    i2t = (_ce([0.6, 0.0], 0) + _ce([0.8, 1.0], 1)) / 2
    t2i = (_ce([0.6, 0.8], 0) + _ce([0.0, 1.0], 1)) / 2
    got = interactive_contrastive(IMAGE, TEXT, IMAGE, TEXT, 1.0)
    assert got.item() == pytest.approx((i2t + t2i) / 2, rel=1e-6)


def _batch(network, n: int = 4) -> dict:
    size = network.config.vision.image_size
    return {"pixels": torch.randn(n, 3, size, size), "ids": torch.randint(1, 100, (n, 12))}


def test_distill_terms_vanish_when_student_is_teacher():
    student = random_model("tiny", seed=3).eval()
    teacher = OnlineTeacher(copy.deepcopy(student).eval())
    objective = DistillObjective(student, teacher, DistillConfig(interactive=1.0)).eval()
    batch = _batch(student)
    with torch.no_grad():
        losses = objective(objective.features(batch), objective.targets(batch))
    assert set(losses) == {"contrastive", "kl", "feature_image", "feature_text", "interactive"}
    for name in ("kl", "feature_image", "feature_text"):
        assert losses[name].item() == pytest.approx(0.0, abs=1e-5), name
    assert losses["interactive"].item() == pytest.approx(losses["contrastive"].item(), rel=1e-5)
    assert not any(isinstance(m, torch.nn.Linear) for m in (objective.image_proj, objective.text_proj))


def test_distill_projects_when_dims_differ_and_skips_zero_weights():
    student = random_model("tiny", seed=3)
    teacher = random_model("small", seed=4)
    config = DistillConfig(kl=0.0, interactive=0.0, feature_loss="mse")
    objective = DistillObjective(student, OnlineTeacher(teacher), config)
    assert objective.image_proj.weight.shape == (256, 64)
    batch = _batch(student)
    losses = objective(objective.features(batch), objective.targets(batch))
    assert set(losses) == {"contrastive", "feature_image", "feature_text"}
    sum(losses.values()).backward()
    assert objective.image_proj.weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())


def test_weight_decay_groups():
    network = random_model("tiny", seed=0)
    decayed, plain = build_optimizer(network, OptimConfig(wd=0.1)).param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in network.named_parameters()}
    plain_names = {names[id(p)] for p in plain["params"]}
    assert {
        "logit_scale",
        "visual.class_embedding",
        "visual.positional_embedding",
        "bert.embeddings.word_embeddings.weight",
        "visual.ln_post.bias",
    } <= plain_names
    assert "visual.proj" in {names[id(p)] for p in decayed["params"]}
    query = "bert.encoder.layer.0.attention.self.query.weight"
    assert not no_decay(query, torch.nn.Parameter(torch.ones(2, 2)))


def test_cosine_schedule_with_warmup():
    assert [cosine_factor(s, 4, 12) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cosine_factor(8, 4, 12) == pytest.approx(0.5)
    assert cosine_factor(12, 4, 12) == pytest.approx(0.0)
