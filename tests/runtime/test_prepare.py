"""The first use of a model: it answers at once on PyTorch fp32 while a child process converts and times its
faster paths, then switches to them and releases the PyTorch weights; one child per model; a killed child leaves
no half-written cache entry."""

from __future__ import annotations

import json
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

import zhclip
from tests.polling import eventually
from zhclip.runtime import cache, plans, prepare
from zhclip.runtime.loader import EXPORT_CACHE
from zhclip.search.encode import MediaEncoder

DEADLINE_S = 300
HELD = Path(__file__).with_name("held_prepare.py")


@pytest.fixture
def held(tmp_path, monkeypatch):
    """The folder that holds the child in its first conversion: `in-build` appears, `release` lets it go."""
    hold = tmp_path / "hold"
    hold.mkdir()
    monkeypatch.setattr(prepare, "CHILD_COMMAND", [sys.executable, str(HELD), str(hold)])
    monkeypatch.setenv("ZHCLIP_RUNTIMES", "torch,onnxruntime")
    return hold


def complete_exports(cache_dir: Path) -> list[Path]:
    folder = cache_dir / "conversions" / EXPORT_CACHE
    return [entry for entry in folder.glob("[!.]*") if cache.is_complete(entry)] if folder.is_dir() else []


def test_first_load_answers_before_the_conversion_and_then_switches(tiny_checkpoints, held, isolated_cache):
    checkpoint = tiny_checkpoints["pt"]
    reference = zhclip.load(checkpoint, device="cpu")
    encoder = MediaEncoder.load(checkpoint, device="cpu")
    eventually((held / "in-build").exists, "the child to start converting", DEADLINE_S)
    assert encoder.paths == {"image": "torch-fp32", "text": "torch-fp32"}
    pixels = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    assert np.allclose(encoder.encode_pixels(pixels), reference.encode_pixel_array(pixels), atol=1e-5)
    assert np.allclose(encoder.encode_text("一只红色的圆形"), reference.encode_texts(["一只红色的圆形"])[0], atol=1e-5)
    assert complete_exports(isolated_cache) == []  # answered while the conversion was unfinished

    second = prepare.start(prepare.Request(str(checkpoint)))
    assert second.process is None and second.running()  # the child at work is left to finish: no second one

    torch_weights = weakref.ref(encoder._model.network)
    (held / "release").touch()

    def switched() -> bool:  # the switch happens on a query or a batch
        encoder.encode_texts(["红色"])
        return encoder.paths["text"] != "torch-fp32"

    eventually(switched, "the switch to the prepared paths", DEADLINE_S)
    assert encoder.paths == {"image": "onnxruntime-int8", "text": "onnxruntime-int8"}
    assert torch_weights() is None  # the PyTorch network is released
    (entry,) = json.loads((isolated_cache / plans.CACHE_FILE).read_text()).values()
    assert entry["plan"] == encoder.paths
    assert np.dot(encoder.encode_pixels(pixels)[0], reference.encode_pixel_array(pixels)[0]) > 0.99


def test_killed_child_leaves_no_half_written_entry(tiny_checkpoints, held, isolated_cache):
    request = prepare.Request(str(tiny_checkpoints["pt"]))
    child = prepare.start(request)
    eventually((held / "in-build").exists, "the child to start converting", DEADLINE_S)
    child.process.kill()
    child.process.wait()
    assert complete_exports(isolated_cache) == []
    assert [
        p.name for p in (isolated_cache / "conversions" / EXPORT_CACHE).iterdir() if not p.name.startswith(".")
    ] == []
    assert not (isolated_cache / plans.CACHE_FILE).exists()
    assert not prepare.is_locked(request.key)  # a killed child's lock goes with it

    (held / "release").touch()  # the next child goes through
    model = zhclip.load(tiny_checkpoints["pt"], device="cpu", precision="fp32", runtime="onnxruntime")
    (export,) = complete_exports(isolated_cache)  # the next load builds the entry whole
    assert model.paths["image"] == "onnxruntime-fp32"


def test_child_failure_is_named_and_pytorch_answers(tmp_path, isolated_cache, monkeypatch, tiny_checkpoints):
    monkeypatch.setenv("ZHCLIP_RUNTIMES", "torch,onnxruntime")
    monkeypatch.setattr(prepare, "CHILD_COMMAND", [sys.executable, "-c", "raise SystemExit(3)"])
    model = zhclip.load(tiny_checkpoints["pt"], device="cpu", precision="auto")
    assert model.paths == {"image": "torch-fp32", "text": "torch-fp32"}
    with pytest.raises(zhclip.UnsupportedError, match=r"failed; see .*prepare.*\.log"):
        zhclip.load(tiny_checkpoints["pt"], device="cpu", precision="int8", runtime="onnxruntime")
