"""`device="auto"` picks CUDA, then Apple's MPS, then the CPU; the availability checks are faked here."""

from __future__ import annotations

import logging

import pytest
import torch

from zhclip.errors import UnsupportedError
from zhclip.models.device import resolve_device, supported_precisions


def fake(monkeypatch, *, cuda: bool = False, mps: bool = False, mps_built: bool = True, macos14: bool = True):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps_built)
    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: macos14 or major < 14)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    fake(monkeypatch, cuda=True, mps=True)
    assert resolve_device("auto").type == "cuda"
    fake(monkeypatch, cuda=False, mps=True)
    assert resolve_device("auto") == torch.device("mps")
    fake(monkeypatch, cuda=False, mps=False)
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_says_why_it_falls_back_from_mps(monkeypatch, caplog):
    fake(monkeypatch, mps=False, mps_built=True)
    with caplog.at_level(logging.INFO, logger="zhclip.models.device"):
        assert resolve_device("auto").type == "cpu"
    assert "MPS is not available" in caplog.text and "CPU runs the model" in caplog.text


def test_explicit_mps_without_mps_is_a_clear_error(monkeypatch):
    fake(monkeypatch, mps=False, mps_built=False)
    with pytest.raises(UnsupportedError, match="no MPS .* support; use cpu"):
        resolve_device("mps")
    fake(monkeypatch, mps=True)
    assert resolve_device("mps").type == "mps"


def test_unknown_devices(monkeypatch):
    fake(monkeypatch)
    with pytest.raises(UnsupportedError, match="unknown device 'gpu'; use auto, cpu, cuda"):
        resolve_device("gpu")
    with pytest.raises(UnsupportedError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_mps_precisions_follow_the_macos_version(monkeypatch):
    fake(monkeypatch, mps=True, macos14=True)
    assert supported_precisions(torch.device("mps")) == ["fp32", "fp16", "bf16"]
    fake(monkeypatch, mps=True, macos14=False)
    assert supported_precisions(torch.device("mps")) == ["fp32", "fp16"]
    assert "int8" in supported_precisions(torch.device("cpu"))
