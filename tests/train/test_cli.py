"""`zhclip train` / `zhclip distill` as a user runs them: torchrun equivalence, kill -9 + resume, teacher cache,
and the error messages of bad input."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from zhclip.cli import main
from zhclip.models import arch_config, random_model, save_hf
from zhclip.models.tokenizer import BUNDLED_VOCAB
from zhclip.train import DistillConfig, ModelInit, OptimConfig, TrainConfig, distill, train
from zhclip.train.checkpoint import load_training

from ..conftest import run_cli

COMMON = ["--lr", "1e-3", "--warmup", "1", "--log-every", "1", "--val-every", "0", "--no-progress", "--no-hf"]


def _metrics(run: Path, kind: str = "train") -> list[dict]:
    lines = (run / "logs" / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_torchrun_two_processes_match_one(toy_data, no_dropout_init, tmp_path):
    """2 gloo processes x batch 8 == 1 process x batch 16: same global batches, negatives span both ranks."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "zhclip",
        "train",
        "--model",
        no_dropout_init,
        "--data",
        toy_data,
        "--out",
        tmp_path / "ddp",
        "--batch-size",
        "8",
        "--max-steps",
        "4",
        *COMMON,
    ]
    done = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('"final_loss"') == 1  # only rank 0 reports
    single = TrainConfig(
        data=toy_data,
        out=tmp_path / "one",
        batch_size=16,
        max_steps=4,
        val_every=0,
        log_every=1,
        optim=OptimConfig(lr=1e-3, warmup=1),
        progress=False,
    )
    train(ModelInit(str(no_dropout_init)), single)
    ddp, one = _metrics(tmp_path / "ddp"), _metrics(tmp_path / "one")
    assert [e["step"] for e in ddp] == [1, 2, 3, 4]
    for a, b in zip(ddp, one, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and abs(a["logit_scale"] - b["logit_scale"]) < 1e-5
    w_ddp = load_training(tmp_path / "ddp" / "checkpoints" / "epoch_latest.pt").network
    w_one = load_training(tmp_path / "one" / "checkpoints" / "epoch_latest.pt").network
    assert max((w_ddp[k] - w_one[k]).abs().max().item() for k in w_one) < 1e-4


def test_kill_9_then_resume(toy_data, tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "--arch",
        "tiny",
        "--data",
        toy_data,
        "--out",
        out,
        "--batch-size",
        "8",
        "--max-steps",
        "16",
        "--save-every",
        "2",
        *COMMON,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "zhclip", *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    latest = out / "checkpoints" / "epoch_latest.pt"
    deadline = time.time() + 120
    while not latest.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = load_training(latest).step
    assert 2 <= killed_at < 16
    done = run_cli(*args, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [e["step"] for e in _metrics(out)] == list(range(1, 17))
    assert json.loads(done.stdout)["steps"] == 16
    assert f"resumed from {latest} at step {killed_at}" in (out / "logs" / "train.log").read_text()


def _teacher(tmp_path: Path, vocab: Path | None = None) -> Path:
    """A teacher of another shape than the student (embed 48, 48 px) as a HF directory."""
    config = arch_config("tiny")
    config.embed_dim, config.vision = 48, replace(config.vision, image_size=48)
    network = random_model(config, seed=11)
    return save_hf(network.state_dict(), config, tmp_path / "teacher", vocab=vocab)


def test_distill_with_teacher_cache_and_online(toy_data, tmp_path, caplog):
    teacher = _teacher(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    for f in toy_data.glob("train_*"):
        (data / f.name).write_bytes(f.read_bytes())
    args = [
        "distill",
        "--teacher",
        teacher,
        "--arch",
        "tiny",
        "--data",
        data,
        "--out",
        tmp_path / "a",
        "--batch-size",
        "16",
        "--max-steps",
        "2",
        "--kd-interactive",
        "0.5",
        "--kd-feature-loss",
        "mse",
        "--teacher-cache",
        *COMMON,
    ]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "building teacher cache" in first.stderr
    caches = list((data / "teacher_cache").glob("train-*.pt"))
    assert len(caches) == 1
    cache = torch.load(caches[0])
    assert cache["image"].shape == (64, 48) and cache["text"].shape == (64, 48)
    assert set(_metrics(tmp_path / "a")[-1]["losses"]) == {
        "contrastive",
        "kl",
        "feature_image",
        "feature_text",
        "interactive",
    }

    cfg = TrainConfig(
        data=data, out=tmp_path / "b", batch_size=16, max_steps=2, val_every=0, progress=False, export_hf=False
    )
    kd = DistillConfig(interactive=0.5, feature_loss="mse", teacher_cache=True)
    with caplog.at_level(logging.INFO, logger="zhclip"):
        distill(ModelInit(arch="tiny"), str(teacher), cfg, kd)
    assert "building teacher cache" not in caplog.text and "teacher embeddings from cache" in caplog.text
    assert len(list((data / "teacher_cache").glob("*.pt"))) == 1

    online = replace(cfg, out=tmp_path / "c", augment=True)
    distill(ModelInit(arch="tiny"), str(teacher), online, replace(kd, teacher_cache=False))
    ckpt = load_training(tmp_path / "c" / "checkpoints" / "epoch_latest.pt")
    assert set(ckpt.objective) == {"image_proj.weight", "text_proj.weight"}
    assert ckpt.config.embed_dim == 64


def test_tokenizer_mismatch_is_a_clear_error(toy_data, tmp_path, capsys):
    lines = BUNDLED_VOCAB.read_text(encoding="utf-8").splitlines()
    lines[200], lines[201] = lines[201], lines[200]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(lines) + "\n", encoding="utf-8")
    teacher = _teacher(tmp_path, vocab)
    code = main(
        [
            "distill",
            "--teacher",
            str(teacher),
            "--arch",
            "tiny",
            "--data",
            str(toy_data),
            "--out",
            str(tmp_path / "x"),
            "--batch-size",
            "16",
            "--max-steps",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "vocabulary differs" in err and "--teacher" in err and "Traceback" not in err


def test_bad_flags(toy_data, tmp_path, capsys):
    base = ["--data", str(toy_data), "--out", str(tmp_path / "x"), "--batch-size", "16", "--max-steps", "1"]
    cases = [
        (["train", "--arch", "tiny", "--accum-freq", "0"], "--accum-freq"),
        (["train", "--arch", "tiny", "--model", "m.pt"], "exactly one"),
        (["train", "--arch", "nope"], "unknown architecture"),
        (["train", "--model", str(tmp_path / "missing.pt")], "missing.pt"),
        (["distill", "--teacher", "t", "--arch", "tiny", "--kd-kl", "-1"], "--kd-kl"),
        (
            [
                "distill",
                "--teacher",
                "t",
                "--arch",
                "tiny",
                "--kd-contrastive",
                "0",
                "--kd-kl",
                "0",
                "--kd-feature",
                "0",
                "--kd-interactive",
                "0",
            ],
            "nothing to train",
        ),
        (["distill", "--teacher", "t", "--arch", "tiny", "--teacher-cache", "--augment"], "--augment"),
    ]
    for argv, expected in cases:
        assert main([*argv, *base]) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, (argv, err)
    (tmp_path / "nodata").mkdir()
    assert main(["train", "--arch", "tiny", "--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "y")]) == 2
    assert "nodata" in capsys.readouterr().err
