"""The OCR engine on rapidocr 3.10's public API: PP-OCRv6 small from the wheel, offline, on ONNX Runtime or
OpenVINO, with zhclip's cuts (the pre-screen, bands, the upside-down lines, the noise filter).

The tests that read use rendered Noto CJK text and the real models (skipped without `zhclip[ocr]` or the fonts);
the bad-input tests need neither.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from zhclip.errors import MissingExtraError, UnsupportedError
from zhclip.search.ocr import ENGINE_NAME, OcrEngine, OcrOptions

FONTS = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
real_engine = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr") is None or not FONTS.exists(),
    reason="needs zhclip[ocr] and fonts-noto-cjk",
)
needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs zhclip[openvino]")


def drawn(phrase: str | None, size: int = 32, kind: str = "paper", rotation: int = 0, seed: int = 0, shape=None):
    """An RGB photo-like background (1280x720 unless `shape`) with `phrase` drawn on it (none: text-free)."""
    from benchmarks.ocr_images import SIZE, background, draw_phrase

    rng = np.random.default_rng(seed)
    image = background(kind, rng, shape or SIZE)
    if phrase:
        draw_phrase(image, phrase, size, "sans", 0, rotation, rng)
    return np.asarray(image)


@pytest.fixture(scope="module")
def engine():
    return OcrEngine()


def test_the_engine_name_says_which_engine_and_models_read_a_library():
    assert "rapidocr" in ENGINE_NAME and "PP-OCRv6" in ENGINE_NAME


def test_an_unknown_runtime_is_refused_by_name():
    with pytest.raises(UnsupportedError, match="'tensorflow'.*onnxruntime, openvino"):
        OcrEngine(OcrOptions(runtime="tensorflow"))


def test_without_rapidocr_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"zhclip\[ocr\]"):
        OcrEngine()


def test_auto_runs_on_openvino_where_its_extra_is_installed(monkeypatch):
    from zhclip.search.ocr import engine

    for installed, runtime in ((True, "openvino"), (False, "onnxruntime")):
        monkeypatch.setattr(engine, "installed_extras", lambda installed=installed: {"openvino": installed})
        assert engine.chosen_runtime("auto") == runtime
    assert engine.chosen_runtime("onnxruntime") == "onnxruntime"


@real_engine
@pytest.mark.parametrize("runtime", ["onnxruntime", pytest.param("openvino", marks=needs_openvino)])
def test_reads_rendered_chinese_offline_from_the_wheels_models(monkeypatch, runtime):
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("the engine tried the network")

    monkeypatch.setattr(requests.Session, "request", no_network)
    lines = OcrEngine(OcrOptions(runtime=runtime)).read(drawn("电子客票行程单", rotation=3))
    assert [line.text for line in lines] == ["电子客票行程单"] and lines[0].confidence > 0.9
    xs, ys = zip(*lines[0].box, strict=True)
    assert len(lines[0].box) == 4 and 0 <= min(xs) < max(xs) <= 1280 and 0 <= min(ys) < max(ys) <= 720


@real_engine
@pytest.mark.parametrize("size", [16, 24, 32, 48, 72])
@pytest.mark.parametrize("kind", ["paper", "photo", "noise"])
def test_the_pre_screen_passes_text_of_every_size_to_full_detection(engine, size, kind):
    before = engine.detector_calls
    lines = engine.read(drawn("停车收费凭证", size, kind, seed=size))
    assert engine.detector_calls - before >= 2, "the pre-screen, then reading a band or the whole image"
    assert any("收费凭证" in line.text for line in lines)


@real_engine
@pytest.mark.parametrize("kind", ["paper", "noise"])  # photos and scenes often pass it: the benchmark counts them
def test_the_pre_screen_stops_a_text_free_photo_after_one_small_pass(engine, kind):
    before = engine.detector_calls
    assert engine.read(drawn(None, kind=kind, seed=1, shape=(1920, 1080))) == []
    assert engine.detector_calls - before == 1


@real_engine
def test_text_low_in_a_tall_photo_is_read_from_its_band_in_the_photos_pixels(engine):
    image = np.concatenate([drawn(None, kind="field", seed=2), drawn("会议纪要", 48, kind="field", seed=3)])
    lines = engine.read(image)
    assert [line.text for line in lines] == ["会议纪要"]
    assert min(y for _, y in lines[0].box) > 720, "the band's rows, moved back to the image's"


@real_engine
def test_upside_down_text_is_turned_round_and_read(engine):
    assert [line.text for line in engine.read(drawn("项目进度计划", 32, rotation=180))] == ["项目进度计划"]


@real_engine
def test_without_the_pre_screen_the_whole_image_is_read_once(engine):
    whole = OcrEngine(OcrOptions(screen_side=0))
    assert [line.text for line in whole.read(drawn("火车票", 24))] == ["火车票"] and whole.detector_calls == 1


@real_engine
@needs_openvino
def test_openvino_reads_the_same_from_several_threads_at_once():
    engine = OcrEngine(OcrOptions(runtime="openvino"))
    phrases = ["增值税普通发票", "营业时间", "北京南站"]
    images = [drawn(phrase, 32, seed=i) for i, phrase in enumerate(phrases)]
    found: dict[str, list[str]] = {}

    def read(phrase, image):
        found[phrase] = [line.text for line in engine.read(image)]

    threads = [threading.Thread(target=read, args=pair) for pair in zip(phrases, images, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert found == {phrase: [phrase] for phrase in phrases}
