"""Training safety: a damaged checkpoint is a clear error, never a silent resume from garbage; a loss that
stops being finite stops the run and leaves a checkpoint that still works."""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import zhclip
import zhclip.train.loop as loop_module
from tests.train.conftest import toy_data  # noqa: F401 - the toy dataset fixture
from zhclip.errors import CheckpointError
from zhclip.train import ModelInit, OptimConfig, TrainConfig, train
from zhclip.train.checkpoint import load_training
from zhclip.train.loop import TrainingDivergedError


def _config(data: Path, out: Path, steps: int = 6, lr: float = 1e-3, resume: bool = False) -> TrainConfig:
    return TrainConfig(
        data=data,
        out=out,
        batch_size=8,
        max_steps=steps,
        save_every=1,
        log_every=1,
        val_every=0,
        optim=OptimConfig(lr=lr, warmup=1),
        progress=False,
        export_hf=False,
        device="cpu",
        resume="latest" if resume else None,
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, toy_data) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("ckpt") / "run"
    train(ModelInit(arch="tiny"), _config(toy_data, out, steps=2))
    return out / "checkpoints" / "epoch_latest.pt"


def _largest_member_middle(path: Path) -> int:
    """File offset of the middle of the largest stored tensor in a torch zip checkpoint."""
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.compress_size)
    with open(path, "rb") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", fh.read(4))
    return info.header_offset + 30 + name_len + extra_len + info.compress_size // 2


def _damage(kind: str, data: bytes, path: Path) -> bytes:
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "zero-byte":
        return b""
    if kind == "random":
        return os.urandom(4096)
    if kind == "text":
        return b'{"not": "a checkpoint"}\n'
    flipped = bytearray(data)
    flipped[_largest_member_middle(path)] ^= 0x40
    return bytes(flipped)


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "zero-byte",
        "random",
        "text",
        "bit-flip",
    ],
)
def test_damaged_checkpoint_is_a_clear_error(checkpoint, tmp_path, kind):
    damaged = tmp_path / "epoch_latest.pt"
    damaged.write_bytes(_damage(kind, checkpoint.read_bytes(), checkpoint))
    with pytest.raises(CheckpointError, match="epoch_latest.pt") as resumed:
        load_training(damaged)
    with pytest.raises(CheckpointError) as loaded:
        zhclip.load(damaged, device="cpu")
    for error in (resumed.value, loaded.value):
        assert "Traceback" not in str(error) and len(str(error)) < 600


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, toy_data, monkeypatch):  # noqa: F811
    out = tmp_path / "run"
    real = loop_module.compute_gradients
    calls = []

    def nan_at_step_4(*args, **kwargs):
        losses = real(*args, **kwargs)
        calls.append(1)
        return {k: v * float("nan") for k, v in losses.items()} if len(calls) == 4 else losses

    monkeypatch.setattr(loop_module, "compute_gradients", nan_at_step_4)
    with pytest.raises(TrainingDivergedError, match="not finite at step 4") as stopped:
        train(ModelInit(arch="tiny"), _config(toy_data, out))
    latest = out / "checkpoints" / "epoch_latest.pt"
    assert f"last good checkpoint kept: {latest}" in str(stopped.value)
    kept = load_training(latest)
    assert kept.step == 3 and all(v.isfinite().all() for v in kept.network.values() if v.is_floating_point())
    monkeypatch.undo()
    assert train(ModelInit(arch="tiny"), _config(toy_data, out, resume=True))["steps"] == 6


def test_update_that_blows_up_keeps_a_checkpoint_that_still_works(tmp_path, toy_data, monkeypatch):  # noqa: F811
    """Step 4's loss is finite but its gradients are not, so the weights after it are garbage: the run must stop
    and the checkpoint it keeps must be step 3's, which still encodes."""
    out = tmp_path / "run"
    real = loop_module.compute_gradients
    calls = []

    def infinite_gradients_at_step_4(objective, *args, **kwargs):
        losses = real(objective, *args, **kwargs)
        calls.append(1)
        if len(calls) == 4:
            for parameter in objective.parameters():
                if parameter.grad is not None:
                    parameter.grad.fill_(float("inf"))
        return losses

    monkeypatch.setattr(loop_module, "compute_gradients", infinite_gradients_at_step_4)
    with pytest.raises(TrainingDivergedError, match="last good checkpoint kept"):
        train(ModelInit(arch="tiny"), _config(toy_data, out))
    latest = out / "checkpoints" / "epoch_latest.pt"
    assert load_training(latest).step == 3
    model = zhclip.load(latest, device="cpu")
    pixels = torch.rand(4, 3, model.image_size, model.image_size)
    features = [np.asarray(model.encode_pixels(pixels)), np.asarray(model.encode_texts(["红色的方块"]))]
    assert all(np.isfinite(f).all() for f in features), "the kept checkpoint gives finite features"


def test_first_update_that_blows_up_saves_nothing(tmp_path, toy_data):  # noqa: F811
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match="no checkpoint was saved yet"):
        train(ModelInit(arch="tiny"), _config(toy_data, out, lr=1e10))
    assert not list((out / "checkpoints").glob("*.pt"))


def test_missing_run_directory_checkpoint_is_a_clear_error(tmp_path, toy_data):  # noqa: F811
    with pytest.raises(zhclip.errors.InputError, match="no checkpoint to resume from"):
        train(ModelInit(arch="tiny"), _config(toy_data, tmp_path / "fresh", resume=True))
    shutil.rmtree(tmp_path / "fresh", ignore_errors=True)
