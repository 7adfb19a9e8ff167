"""Runtime and compression fixtures: an isolated `auto` cache; one ONNX export of the tiny checkpoint (via the CLI)."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """`precision="auto"` writes its measurements here instead of ~/.cache/zhclip."""
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_checkpoints):
    out = tmp_path_factory.mktemp("onnx") / "tiny_onnx"
    result = run_cli("export", "onnx", tiny_checkpoints["pt"], out)
    assert result.returncode == 0, result.stderr
    assert "image.int8.onnx" in result.stdout
    return out
