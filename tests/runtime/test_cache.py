"""The conversion cache: built once, damaged entries rebuilt, builds a killed process left behind removed."""

from __future__ import annotations

import os
import time

from zhclip.runtime import cache


def _build(out):
    (out / "model.bin").write_bytes(b"weights")


def test_abandoned_build_folders_are_removed_and_fresh_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path))
    kind = tmp_path / "conversions" / "onnx"
    abandoned, running = kind / ".key1.aaaaaaaaaaaa.tmp", kind / ".key1.bbbbbbbbbbbb.tmp"
    for folder in (abandoned, running):
        folder.mkdir(parents=True)
        (folder / "half.onnx").write_bytes(b"half")
    hours_ago = time.time() - 2 * cache.ABANDONED_AFTER_S
    os.utime(abandoned, (hours_ago, hours_ago))
    folder = cache.entry("onnx", "key1", _build, "a test conversion")
    assert (folder / "model.bin").read_bytes() == b"weights" and cache.is_complete(folder)
    assert not abandoned.exists() and running.exists()  # another process may still be building that one


def test_entry_is_built_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path))
    builds = []
    for _ in range(2):
        cache.entry("onnx", "key2", lambda out: builds.append(out) or _build(out), "a test conversion")
    assert len(builds) == 1
