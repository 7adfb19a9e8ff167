"""Training options: --context-length, --multi-positive, --patch-dropout and --report-to tensorboard."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import zhclip
from zhclip.cli import main
from zhclip.errors import InputError
from zhclip.models import convert, random_model
from zhclip.train import ModelInit, TrainConfig, train
from zhclip.train.checkpoint import load_training
from zhclip.train.losses import clip_loss, shared_ids

from .conftest import write_toy_dataset
from .test_loop import _cfg as loop_config
from .test_loop import _losses

LONG_TEXT = "一只红色的猫坐在蓝色的沙发上看着窗外的小鸟" * 4  # ~88 tokens


def _cfg(data: Path, out: Path, **overrides) -> TrainConfig:
    return loop_config(data, out, **{"max_steps": 2, "export_hf": False, **overrides})


def _validations(run: Path) -> list[dict]:
    lines = (run / "logs" / "metrics.jsonl").read_text().splitlines()
    return [e["detail"] for e in map(json.loads, lines) if e["kind"] == "val"]


# ---------------------------------------------------------------- --context-length


def test_context_length_is_stored_and_honoured_by_every_format(toy_data, tmp_path):
    run = tmp_path / "ctx"
    train(ModelInit(arch="tiny"), _cfg(toy_data, run, max_steps=1, context_length=96, export_hf=True))
    ckpt = run / "checkpoints" / "epoch_latest.pt"
    assert load_training(ckpt).config.context_length == 96
    back = convert(run / "hf", tmp_path / "back.pt", "cnclip")
    for source in (ckpt, run / "hf", back):
        model = zhclip.load(source, device="cpu")
        assert model.config.context_length == 96 and model.tokenizer(LONG_TEXT).shape == (1, 96), source
    tokenizer_config = json.loads((run / "hf" / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == 96

    long = zhclip.load(ckpt, device="cpu")
    short = zhclip.load(ckpt, device="cpu", context_length=52)
    assert short.tokenizer(LONG_TEXT).shape == (1, 52)
    assert abs(long.encode_texts(LONG_TEXT) - short.encode_texts(LONG_TEXT)).max() > 1e-4  # the tail is read
    assert abs(long.encode_texts("红色") - short.encode_texts("红色")).max() < 1e-6  # short texts: the same


def test_context_length_past_the_position_table(toy_data, tmp_path, tiny_checkpoints, capsys):
    with pytest.raises(InputError, match=r"outside 3\.\.512 .*position table"):
        zhclip.load(tiny_checkpoints["pt"], device="cpu", context_length=513)
    base = ["--data", str(toy_data), "--batch-size", "16", "--max-steps", "1", "--no-progress"]
    for argv in (
        ["train", "--arch", "tiny", "--out", str(tmp_path / "a"), "--context-length", "600", *base],
        ["eval", "retrieval", "--model", str(tiny_checkpoints["pt"]), "--data", str(toy_data), "--split", "valid"]
        + ["--out", str(tmp_path / "e"), "--context-length", "2"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "--context-length" in err and "position table" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_resume_with_another_context_length_is_refused(toy_data, tmp_path):
    run = tmp_path / "r"
    train(ModelInit(arch="tiny"), _cfg(toy_data, run, max_steps=1, context_length=64))
    with pytest.raises(InputError, match="--context-length 64"):
        train(ModelInit(arch="tiny"), _cfg(toy_data, run, max_steps=2, resume=Path("latest")))


# ---------------------------------------------------------------- --multi-positive


def test_multi_positive_loss_by_hand():
    torch.manual_seed(0)
    image, text = F.normalize(torch.randn(4, 8), dim=-1), F.normalize(torch.randn(4, 8), dim=-1)
    assert torch.allclose(clip_loss(image, text, 10.0, torch.eye(4, dtype=torch.bool)), clip_loss(image, text, 10.0))
    # pairs 0 and 1 show the same image, pairs 1 and 2 share a caption: positives by shared id, not transitively
    positives = shared_ids(torch.tensor([7, 7, 8, 9]), torch.tensor([1, 2, 2, 3]))
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(positives, expected)
    logits = 10.0 * image @ text.t()

    def soft_ce(rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        target = mask.float() / mask.float().sum(1, keepdim=True)
        return -(target * rows.log_softmax(1)).sum(1).mean()

    by_hand = (soft_ce(logits, positives) + soft_ce(logits.t(), positives.t())) / 2
    assert clip_loss(image, text, 10.0, positives).item() == pytest.approx(by_hand.item(), rel=1e-6)


def write_label_dataset(root: Path) -> Path:
    """The toy dataset with label-like captions: one text per class, true of both images of its class,
    and each image's own numbered caption too (so images are shared by texts and texts by images)."""
    write_toy_dataset(root, {"train": 32, "valid": 16})
    by_text: dict[str, list[int]] = {}
    own = []
    for line in (root / "train_texts.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_text.setdefault(record["text"], []).extend(record["image_ids"])
        own.append({**record, "text_id": 100 + len(own), "text": f"{record['text']}，第{len(own) + 1}张"})
    rows = [{"text_id": i, "text": text, "image_ids": ids} for i, (text, ids) in enumerate(by_text.items())]
    rows += own
    (root / "train_texts.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return root


@pytest.fixture(scope="module")
def label_data(tmp_path_factory) -> Path:
    return write_label_dataset(tmp_path_factory.mktemp("labels"))


def test_multi_positive_accumulated_and_distributed_equal_one_batch(label_data, no_dropout_init, tmp_path):
    """2 gloo processes x accum 2 x batch 4 == accum 2 x batch 8 == one batch of 16 (validation included),
    and differs from plain InfoNCE on label-like data. (Where every shared id comes with identical
    embeddings — the same image, no augmentation — soft targets give exactly plain InfoNCE's gradient; here
    an image is shared by two texts and a text by two images, which plain InfoNCE does not reproduce.)"""
    one = _cfg(label_data, tmp_path / "one", multi_positive=True, max_steps=3, val_every=3)
    acc = _cfg(label_data, tmp_path / "acc", multi_positive=True, max_steps=3, batch_size=8, accum_freq=2)
    plain = _cfg(label_data, tmp_path / "plain", max_steps=3)
    for cfg in (one, acc, plain):
        train(ModelInit(str(no_dropout_init)), cfg)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "zhclip"]
    cmd += ["train", "--model", no_dropout_init, "--data", label_data, "--out", tmp_path / "ddp", "--multi-positive"]
    cmd += ["--batch-size", "4", "--accum-freq", "2", "--max-steps", "3", "--lr", "1e-3", "--warmup", "2"]
    cmd += ["--log-every", "1", "--val-every", "3", "--no-progress", "--no-hf"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    reference, cmd_runs = _losses(tmp_path / "one"), ("one", "ddp", "plain")
    for run in ("acc", "ddp"):
        assert _losses(tmp_path / run) == pytest.approx(reference, rel=1e-4), run
    validations = [_validations(tmp_path / run) for run in ("one", "ddp")]
    assert validations[0] == validations[1] and len(validations[0]) == 1  # validation sharded over both ranks
    weights = {run: load_training(tmp_path / run / "checkpoints" / "epoch_latest.pt").network for run in cmd_runs}
    a, b, c = weights["one"], weights["ddp"], weights["plain"]
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    assert max((a[k] - c[k]).abs().max().item() for k in a) > 1e-3  # other targets, other updates


def test_multi_positive_needs_shared_ids(toy_data, tmp_path, capsys):
    argv = ["train", "--arch", "tiny", "--data", str(toy_data), "--out", str(tmp_path / "x"), "--batch-size", "16"]
    assert main([*argv, "--max-steps", "1", "--multi-positive", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--multi-positive needs pairs that share an image id or a text id" in err and "Traceback" not in err


# ---------------------------------------------------------------- --patch-dropout


def test_patch_dropout_only_in_training_mode():
    network = random_model("tiny", seed=0)
    pixels = torch.randn(3, 3, 64, 64)
    seen = []
    network.visual.transformer.resblocks[0].register_forward_hook(lambda m, args, out: seen.append(out.shape[1]))
    network.eval()
    full = network.encode_image(pixels)
    network.set_patch_dropout(0.5)
    assert torch.equal(network.encode_image(pixels), full)  # evaluation sees every patch
    network.train()
    dropped = network.encode_image(pixels)
    assert seen == [17, 17, 1 + 8]  # class token + 16 patches; then half of the patches
    assert not torch.allclose(dropped, full)


def test_patch_dropout_bounds(toy_data, tmp_path, capsys):
    argv = ["train", "--arch", "tiny", "--data", str(toy_data), "--out", str(tmp_path / "x"), "--max-steps", "1"]
    for rate in ("1", "-0.1", "nan"):
        assert main([*argv, "--patch-dropout", rate]) == 2
        err = capsys.readouterr().err
        assert "--patch-dropout" in err and "[0, 1)" in err and "Traceback" not in err


def test_patch_dropout_trains_and_validation_sees_all_patches(toy_data, tmp_path):
    summary = train(ModelInit(arch="tiny"), _cfg(toy_data, tmp_path / "p", patch_dropout=0.5, val_every=2))
    assert summary["steps"] == 2 and summary["config"]["patch_dropout"] == 0.5
    assert summary["final_val_mean_recall"] is not None


# ---------------------------------------------------------------- --report-to tensorboard


def test_tensorboard_scalars(toy_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "tb"
    train(ModelInit(arch="tiny"), _cfg(toy_data, run, report_to="tensorboard", val_every=2))
    events = EventAccumulator(str(run / "logs" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/loss_contrastive", "train/lr", "train/logit_scale", "train/samples_per_s"}
    assert expected | {"val/mean_recall", "val/text_to_image", "val/image_to_text"} <= tags
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert events.Scalars("train/loss")[-1].value == pytest.approx(_losses(run)[-1], rel=1e-6)
    assert (run / "logs" / "metrics.jsonl").is_file() and (run / "logs" / "curves.png").is_file()


def test_tensorboard_missing_is_one_line(toy_data, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    argv = ["train", "--arch", "tiny", "--data", str(toy_data), "--out", str(tmp_path / "x"), "--max-steps", "1"]
    assert main([*argv, "--report-to", "tensorboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tensorboard package" in err and "pip install tensorboard" in err and len(err.splitlines()) == 1
