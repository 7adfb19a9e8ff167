"""Shared fixtures: tests build their own checkpoints (no downloads)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from zhclip.cli import main
from zhclip.models import random_model, save_cnclip, save_hf

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def tiny_network():
    return random_model("tiny", seed=1234)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory, tiny_network) -> dict[str, Path]:
    """The same tiny random weights as a Chinese-CLIP .pt, a bare .pth and a HF directory."""
    root = tmp_path_factory.mktemp("tiny")
    sd = tiny_network.state_dict()
    paths = {"pt": root / "tiny.pt", "pth": root / "tiny.pth", "hf": root / "tiny_hf"}
    save_cnclip(sd, tiny_network.config, paths["pt"], epoch=3, step=120)
    torch.save(sd, paths["pth"])
    save_hf(sd, tiny_network.config, paths["hf"])
    return paths


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `zhclip ARGS` as a subprocess, the way a user would."""
    return subprocess.run(
        [sys.executable, "-m", "zhclip", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys):
    """`zhclip ARGS` in-process: fast; `run_cli` covers the real subprocess path."""

    def run(*args) -> CliResult:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(autouse=True, scope="session")
def _auto_precision_cache(tmp_path_factory):
    """`precision="auto"` caches its measurements here (and in CLI subprocesses), not in ~/.cache/zhclip."""
    os.environ["ZHCLIP_CACHE_DIR"] = str(tmp_path_factory.mktemp("zhclip-cache"))


@pytest.fixture(autouse=True, scope="session")
def _auto_on_torch_only():
    """`precision="auto"` measures only PyTorch paths (no ONNX/OpenVINO conversions) outside the runtime tests."""
    os.environ["ZHCLIP_RUNTIMES"] = "torch"
