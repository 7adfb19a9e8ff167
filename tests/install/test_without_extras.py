"""Every command in an environment where no optional extra is importable: the main jobs run; a command or
flag that needs an extra stops before any work with one line naming it, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.install.session import (
    EXTRA_MODULES,
    check_outputs,
    hidden_extras_env,
    main_jobs,
    run_zhclip,
    serve_and_query,
)
from zhclip.runtime.onnx import MANIFEST


def assert_needs_extra(result, extra: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"pip install 'zhclip[{extra}]'" in lines[0], lines[0]


def test_the_blocker_hides_every_extra(tmp_path):
    probe = "import importlib.util as u, sys; [__import__(m) for m in sys.argv[1:]]"
    for module in EXTRA_MODULES:
        done = subprocess.run(
            [sys.executable, "-c", probe, module], capture_output=True, text=True, env=hidden_extras_env()
        )
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, (module, done.stderr)


@pytest.fixture
def onnx_export(tmp_path):
    """What marks a `zhclip export onnx` directory (its manifest): the extra check comes before reading it."""
    export = tmp_path / "export"
    export.mkdir()
    (export / MANIFEST).write_text("{}")
    return export


def test_features_that_need_an_extra_say_which(tiny_checkpoints, onnx_export, tmp_path):
    """Seven commands, each in its own process (~2-4 s apiece on 2 cores)."""
    env = hidden_extras_env()
    model = tiny_checkpoints["pt"]
    assert_needs_extra(run_zhclip(sys.executable, ["export", "onnx", model, tmp_path / "o"], env), "onnx")
    assert not (tmp_path / "o").exists()
    bench = ["bench", "encode", "--random-arch", "tiny", "--quick", "--precision", "onnx-fp32"]
    assert_needs_extra(run_zhclip(sys.executable, bench, env), "onnx")
    assert_needs_extra(run_zhclip(sys.executable, ["info", onnx_export], env), "onnx")
    index = ["index", tmp_path, "--db", tmp_path / "lib.db", "--model", model, "--ocr"]
    assert_needs_extra(run_zhclip(sys.executable, index, env), "ocr")
    assert not (tmp_path / "lib.db").exists()
    speech = ["index", tmp_path, "--db", tmp_path / "lib.db", "--model", model, "--speech"]
    assert_needs_extra(run_zhclip(sys.executable, speech, env), "speech")
    assert not (tmp_path / "lib.db").exists()
    before = sorted(tmp_path.iterdir())
    shared = ["index", tmp_path, "--db", f"postgresql://editor@/team?host={tmp_path}", "--model", model]
    assert_needs_extra(run_zhclip(sys.executable, shared, env, cwd=tmp_path), "postgres")
    assert sorted(tmp_path.iterdir()) == before  # no folder `postgresql:`, no log file
    source = "modelscope:damo/multi-modal_clip-vit-base-patch16_zh"
    assert_needs_extra(run_zhclip(sys.executable, ["info", source], env), "modelscope")


@pytest.mark.slow
def test_every_main_job_runs_without_the_extras(tiny_checkpoints, tmp_path):
    """About 20 commands, each in its own process (~2-4 s apiece on 2 cores)."""
    env = hidden_extras_env(HF_HUB_OFFLINE="1")
    for job in main_jobs(tmp_path, tiny_checkpoints["pt"]):
        result = run_zhclip(sys.executable, job, env, cwd=tmp_path)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (job, result.stderr[-3000:])
    check_outputs(tmp_path)
    assert serve_and_query(sys.executable, tmp_path / "library.db", env)["counts"]["images"] == 6
