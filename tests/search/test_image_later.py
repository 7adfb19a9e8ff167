"""A server's model: text queries answered from the cached text tower while the image tower still loads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import zhclip
from zhclip.runtime import auto
from zhclip.search import encode as encode_module
from zhclip.search.encode import MediaEncoder

TEXT = "一只红色的圆形"


@pytest.fixture
def converted(tmp_path, tiny_network, monkeypatch):
    """A checkpoint loaded once with precision auto, whose plan runs the text tower on ONNX Runtime."""
    from zhclip.models import save_cnclip

    monkeypatch.setenv("ZHCLIP_RUNTIMES", "torch,onnxruntime")
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path / "cache"))
    measured = auto.measure_candidates

    def measure(candidates, probe):  # auto picks the converted text path, whatever the timings say
        results = measured(candidates, probe)
        results["onnxruntime-int8"].update(text_speedup=1e6, text_fidelity=1.0)
        return results

    monkeypatch.setattr(auto, "measure_candidates", measure)
    checkpoint = save_cnclip(tiny_network.state_dict(), tiny_network.config, tmp_path / "own.pt")
    full = zhclip.load(checkpoint, device="cpu", precision="auto", choose=auto.choose_plan)  # measured here
    assert full.paths["text"] == "onnxruntime-int8"
    return checkpoint, full


def test_text_is_answered_while_the_image_tower_loads(converted, monkeypatch):
    checkpoint, full = converted
    release, image_loads = threading.Event(), []
    load = encode_module.load_model

    def slow_full_load(source, towers, **options):
        if "image" in towers:
            image_loads.append(threading.current_thread().name)
            assert release.wait(60)
        return load(source, towers=towers, **options)

    monkeypatch.setattr(encode_module, "load_model", slow_full_load)
    encoder = MediaEncoder.load(checkpoint, device="cpu", image_later=True)
    # the image tower's load is blocked, and the text query is answered all the same
    np.testing.assert_allclose(encoder.encode_text(TEXT), full.encode_texts([TEXT])[0], atol=1e-5)
    assert image_loads and image_loads[0].startswith("zhclip-load")
    release.set()
    pixels = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    np.testing.assert_allclose(encoder.encode_pixels(pixels), full.encode_pixels(torch.from_numpy(pixels)), atol=1e-5)


def test_without_a_cached_text_tower_the_whole_model_loads_at_once(tiny_checkpoints, monkeypatch):
    loads = []
    for name in ("load_model", "load_at_once"):  # the first load, and any later one
        load = getattr(encode_module, name)
        monkeypatch.setattr(
            encode_module, name, lambda s, towers, load=load, **o: loads.append(towers) or load(s, towers=towers, **o)
        )
    encoder = MediaEncoder.load(tiny_checkpoints["pt"], device="cpu", precision="fp32", image_later=True)
    assert loads == [("text",)]  # one load, which gave both towers (nothing was converted for this checkpoint)
    assert encoder.encode_pixels(np.zeros((1, 3, 64, 64), np.float32)).shape == (1, encoder.identity.embed_dim)
