"""SIGKILL at random moments: the indexer and the trainer pick up where they were and end where a run
without faults ends. Fast versions: forked children (no interpreter start-up); the long runs kill the
`zhclip index` / `zhclip train` commands themselves (benchmarks/reliability/run.py)."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
from benchmarks.reliability.faults import Forked, kill_loop, run_to_end
from benchmarks.reliability.library import compare, integrity, mixed_library, mutate, snapshot

from tests.train.conftest import toy_data  # noqa: F401 - the toy dataset fixture
from zhclip.search import IndexOptions, index_library
from zhclip.train import ModelInit, OptimConfig, TrainConfig, train
from zhclip.train.checkpoint import load_training

OPTIONS = IndexOptions(workers=2, commit_every=0.0)


def test_sigkill_indexer_at_random_moments_then_rerun_equals_a_clean_run(tmp_path, encoder):
    lib, db = mixed_library(tmp_path / "lib", photos=40, videos=2), tmp_path / "lib.db"
    rng = np.random.default_rng(7)

    def start():
        return Forked(lambda: index_library(db, [lib], encoder, OPTIONS))

    stats = kill_loop(
        start,
        kills=5,
        window=(0.05, 1.5),
        deadline=time.monotonic() + 120,
        rng=rng,
        check=lambda: integrity(db),
        between=lambda n: mutate(lib, rng, n),
    )
    assert stats.kills == stats.survived == 5, stats.failures
    assert not stats.failures, stats.failures
    assert run_to_end(start, timeout=120) == 0
    index_library(tmp_path / "clean.db", [lib], encoder, OPTIONS)
    difference = compare(snapshot(tmp_path / "clean.db"), snapshot(db))
    assert difference.same, difference.describe()


def _train_config(data, out, resume: bool) -> TrainConfig:
    return TrainConfig(
        data=data,
        out=out,
        batch_size=8,
        max_steps=24,
        save_every=2,
        log_every=1,
        val_every=0,
        optim=OptimConfig(lr=1e-3, warmup=1),
        progress=False,
        export_hf=False,
        device="cpu",
        resume="latest" if resume else None,
    )


def test_sigkill_training_mid_epoch_then_resume_completes(tmp_path, toy_data):  # noqa: F811
    out = tmp_path / "run"
    latest = out / "checkpoints" / "epoch_latest.pt"

    def start():
        return Forked(lambda: train(ModelInit(arch="tiny"), _train_config(toy_data, out, latest.is_file())))

    def check() -> str:
        return "ok" if not latest.exists() or load_training(latest).step >= 0 else "unreadable checkpoint"

    stats = kill_loop(
        start,
        kills=3,
        window=(1.0, 4.0),
        deadline=time.monotonic() + 120,
        rng=np.random.default_rng(3),
        check=check,
        between=lambda n: shutil.rmtree(out),  # a run that finished starts over, so every kill hits a live run
    )
    assert stats.kills == stats.survived == 3 and not stats.failures, stats
    assert run_to_end(start, timeout=180) == 0
    final = load_training(latest)
    assert final.step == 24 and all(v.isfinite().all() for v in final.network.values() if v.is_floating_point())
    steps = [e["step"] for e in map(json.loads, (out / "logs" / "metrics.jsonl").read_text().splitlines())]
    assert steps == list(range(1, 25)), "every step logged once: none lost, none repeated"
