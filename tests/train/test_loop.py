"""The training loop in-process on a toy dataset: exact resume, accumulation, divergence, error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zhclip.errors import CheckpointError, InputError
from zhclip.models import random_model
from zhclip.models.tokenizer import Tokenizer
from zhclip.train import ModelInit, OptimConfig, TrainConfig, TrainingDivergedError, train
from zhclip.train.checkpoint import load_training
from zhclip.train.loop import Task, Trainer, fit
from zhclip.train.objectives import ContrastiveObjective

from .conftest import write_toy_dataset


def _cfg(data: Path, out: Path, **overrides) -> TrainConfig:
    base = dict(
        data=data,
        out=out,
        batch_size=16,
        epochs=2,
        val_every=0,
        log_every=1,
        save_every=3,
        optim=OptimConfig(lr=1e-3, warmup=2),
        progress=False,
    )
    return TrainConfig(**{**base, **overrides})


def _losses(run: Path) -> list[float]:
    lines = (run / "logs" / "metrics.jsonl").read_text().splitlines()
    return [e["loss"] for e in map(json.loads, lines) if e["kind"] == "train"]


def test_resume_after_interruption_is_exact(toy_data, tmp_path, monkeypatch):
    """Dropout is on (tiny preset), so equality also proves the RNG state is restored."""
    full = train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "full"))
    assert full["steps"] == 8 and len(_losses(tmp_path / "full")) == 8

    original = Trainer._optimise

    def interrupted(self, batch):
        if self.step == 7:  # the mid-epoch save at step 6 exists; step 7 is logged then lost
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Trainer, "_optimise", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "cut"))
    monkeypatch.setattr(Trainer, "_optimise", original)
    state = load_training(tmp_path / "cut" / "checkpoints" / "epoch_latest.pt")
    assert (state.step, state.position.epoch, state.position.step_in_epoch) == (6, 1, 2)

    train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "cut", resume=Path("latest")))
    assert _losses(tmp_path / "cut") == _losses(tmp_path / "full")
    ckpts = sorted(p.name for p in (tmp_path / "cut" / "checkpoints").glob("*.pt"))
    assert ckpts == ["epoch_1.pt", "epoch_2.pt", "epoch_latest.pt"]
    assert (tmp_path / "cut" / "hf" / "config.json").is_file()
    assert (tmp_path / "cut" / "logs" / "curves.png").is_file()
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["steps"] == 8 and summary["wall_time_s"] > 0 and summary["peak_memory_mb"] > 0


def test_accumulation_equals_one_big_batch(toy_data, tmp_path, no_dropout_init):
    """accum 2 x batch 8 gives the same updates as batch 16: every pair sees all 16 as negatives."""
    big = _cfg(toy_data, tmp_path / "big", max_steps=3)
    small = _cfg(toy_data, tmp_path / "acc", max_steps=3, batch_size=8, accum_freq=2)
    train(ModelInit(str(no_dropout_init)), big)
    train(ModelInit(str(no_dropout_init)), small)
    assert _losses(tmp_path / "acc") == pytest.approx(_losses(tmp_path / "big"), rel=1e-4)
    a = load_training(tmp_path / "big" / "checkpoints" / "epoch_latest.pt").network
    b = load_training(tmp_path / "acc" / "checkpoints" / "epoch_latest.pt").network
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4


class _Exploding(ContrastiveObjective):
    """NaN loss from the 5th training forward on (eval-mode forwards, the save-time probe, are left alone)."""

    calls = 0

    def forward(self, features, targets):
        losses = super().forward(features, targets)
        if self.training:
            self.calls += 1
            if self.calls >= 5:
                losses["contrastive"] = losses["contrastive"] * float("nan")
        return losses


def test_nan_loss_stops_and_keeps_last_good_checkpoint(toy_data, tmp_path):
    task = Task(_Exploding(random_model("tiny", seed=0)), Tokenizer())
    with pytest.raises(TrainingDivergedError, match=r"not finite at step 5.*last good checkpoint kept"):
        fit(task, _cfg(toy_data, tmp_path / "nan"))
    assert load_training(tmp_path / "nan" / "checkpoints" / "epoch_latest.pt").step == 4


def test_update_that_blows_up_the_weights_is_not_saved(toy_data, tmp_path):
    """With lr 1e10 the first loss is finite but the update is not: no checkpoint may hold those weights."""
    cfg = _cfg(toy_data, tmp_path / "boom", save_every=1, optim=OptimConfig(lr=1e10, warmup=1))
    with pytest.raises(TrainingDivergedError, match="not finite"):
        train(ModelInit(arch="tiny"), cfg)
    latest = tmp_path / "boom" / "checkpoints" / "epoch_latest.pt"
    assert not latest.exists() or all(v.isfinite().all() for v in load_training(latest).network.values())


def test_resume_errors(toy_data, tmp_path):
    out = tmp_path / "run"
    train(ModelInit(arch="tiny"), _cfg(toy_data, out, max_steps=1))
    latest = out / "checkpoints" / "epoch_latest.pt"
    with pytest.raises(CheckpointError, match="architecture 'tiny'"):
        train(ModelInit(arch="small"), _cfg(toy_data, out, resume=latest))
    with pytest.raises(InputError, match="global batch of 16"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, out, resume=latest, batch_size=8))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, out, resume=corrupt))
    bare = tmp_path / "weights.pt"
    torch.save(random_model("tiny").state_dict(), bare)
    with pytest.raises(CheckpointError, match="use --model instead"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, out, resume=bare))
    with pytest.raises(InputError, match="no checkpoint to resume"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "fresh", resume=Path("latest")))


def test_config_and_data_errors(toy_data, tmp_path):
    with pytest.raises(InputError, match="--batch-size"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "a", batch_size=0))
    with pytest.raises(InputError, match="--lr"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "a", optim=OptimConfig(lr=-1.0)))
    with pytest.raises(InputError, match="exactly one"):
        train(ModelInit("x.pt", "tiny"), _cfg(toy_data, tmp_path / "a"))
    with pytest.raises(InputError, match="fewer than one step's global batch"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "a", batch_size=128))
    with pytest.raises(InputError, match="no 'test' split"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "a", val_every=2, val_split="test"))
    empty = write_toy_dataset(tmp_path / "empty", {"train": 0})
    with pytest.raises(InputError, match="no usable image-text pairs|no valid"):
        train(ModelInit(arch="tiny"), _cfg(empty, tmp_path / "a"))


def test_tiny_training_reduces_loss_and_raises_recall(tmp_path):
    """Memorise a small synth split: 16 images x 2 captions, the whole split in every step."""
    from zhclip.cli import main
    from zhclip.evaluate.retrieval import evaluate_retrieval
    from zhclip.models import ClipModel

    data = tmp_path / "synth"
    argv = [
        "data",
        "synth",
        str(data),
        "--train",
        "16",
        "--valid",
        "0",
        "--test",
        "0",
        "--captions",
        "2",
        "--max-objects",
        "1",
    ]
    assert main(argv) == 0
    untrained = ClipModel(random_model("tiny", seed=0), Tokenizer(), torch.device("cpu"), "fp32")
    before = evaluate_retrieval(untrained, data, "train")
    cfg = _cfg(
        data,
        tmp_path / "run",
        batch_size=32,
        max_steps=40,
        init_logit_scale=5.0,
        val_every=40,
        val_split="train",
        save_epochs=0,
        save_every=1000,
        export_hf=False,
        optim=OptimConfig(lr=1e-3, warmup=3, wd=0.0),
    )
    train(ModelInit(arch="tiny"), cfg)
    losses = _losses(tmp_path / "run")
    assert losses[-1] < losses[0] - 0.3, losses
    val = [json.loads(x) for x in (tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()][-1]
    for direction in ("text_to_image", "image_to_text"):
        gain = val["detail"][direction]["mean_recall"] - before[direction]["mean_recall"]
        assert gain > 10, (direction, before, val)
