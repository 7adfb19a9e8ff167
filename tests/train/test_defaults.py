"""Training defaults are written once, in the settings dataclasses: `zhclip train` / `zhclip distill` without
flags build exactly the dataclasses' defaults, and each flag reaches its field."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from zhclip.cli import build_parser
from zhclip.cli.train import _distill_config, _train_config
from zhclip.train.config import DistillConfig, OptimConfig, TrainConfig

REQUIRED = {"train": ["--data", "d", "--out", "o"], "distill": ["--teacher", "t", "--data", "d", "--out", "o"]}


def _args(command: str, *flags: str):
    return build_parser(command).parse_args([command, *REQUIRED[command], *flags])


@pytest.mark.parametrize("command", ["train", "distill"])
def test_no_flags_give_the_dataclass_defaults(command):
    assert _train_config(_args(command)) == TrainConfig(data=Path("d"), out=Path("o"))


def test_distill_without_flags_gives_the_distill_defaults():
    assert _distill_config(_args("distill")) == DistillConfig()


def test_flags_reach_their_fields():
    args = _args("distill", "--lr", "0.001", "--batch-size", "8", "--kd-kl", "0.5", "--no-hf", "--teacher-cache")
    expected = TrainConfig(data=Path("d"), out=Path("o"), batch_size=8, optim=OptimConfig(lr=0.001), export_hf=False)
    assert _train_config(args) == expected
    assert _distill_config(args) == replace(DistillConfig(), kl=0.5, teacher_cache=True)
