"""Hostile and odd files: each is indexed, or skipped with a logged reason; the library never suffers."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from benchmarks.reliability.corpus import CASES, INDEXED, VFR_MOMENTS_MS, make_corpus, outcomes
from benchmarks.reliability.environment import logged
from benchmarks.reliability.library import snapshot
from PIL import Image

from tests.search.media import photo
from zhclip.search import DecodeError, DecodeOptions, IndexOptions, index_library
from zhclip.search.decode import decode_file, decode_image
from zhclip.search.scan import ScannedFile

from .conftest import assert_intact

FAST = IndexOptions(workers=2, commit_every=0.0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.encode("ascii", "backslashreplace").decode())
def test_odd_file_is_indexed_or_skipped_with_a_logged_reason(case, good_library, library_copy, encoder, tmp_path):
    good, _ = good_library
    made = make_corpus(tmp_path / "odd", (case,))
    before = snapshot(library_copy)
    with logged() as messages:
        summary = index_library(library_copy, [good, tmp_path / "odd"], encoder, FAST)
    (outcome,) = outcomes(made, set(snapshot(library_copy)), summary.failed)
    assert outcome.ok, f"expected {case.expect!r}, got {outcome.got!r}"
    if case.expect != INDEXED:
        path = next(iter(made)).encode("utf-8", "replace").decode()
        assert any(m.startswith(f"skipping {path}") and case.expect in m for m in messages), messages
    assert_intact(library_copy, before)
    again = index_library(library_copy, [good, tmp_path / "odd"], encoder, FAST)
    assert again.new == again.updated == again.removed == 0, "a second run finds nothing new to do"


def test_grey_16bit_png_is_decoded_like_its_8bit_version(tmp_path, encoder):
    """16-bit greys span 0..65535; squeezing them into 8 bits by clipping makes every photo white."""
    make_corpus(tmp_path, tuple(c for c in CASES if c.name == "grey-16bit.png"))
    grey16 = Image.open(tmp_path / "grey-16bit.png")
    as8bit = Image.fromarray((np.asarray(grey16, np.uint32) >> 8).astype(np.uint8), "L")
    options = DecodeOptions(encoder.image_size)
    _, pixels16 = decode_image(tmp_path / "grey-16bit.png", encoder.to_array, options, "grey16")
    expected = encoder.to_array(as8bit)
    assert np.abs(pixels16 - expected).max() < 0.05, "16-bit grey decoded as something else (clipped to white?)"


@pytest.mark.parametrize("name", ["variable-rate.mkv", "short-header.mp4"])
def test_variable_frame_rate_video_is_sampled_to_its_last_frame(name, tmp_path, encoder):
    made = make_corpus(tmp_path / "lib", tuple(c for c in CASES if c.name == name))
    summary = index_library(tmp_path / "lib.db", [tmp_path / "lib"], encoder, FAST)
    assert summary.new == 1, summary.failed
    times = snapshot(tmp_path / "lib.db")[next(iter(made))].times
    assert list(times) == sorted(set(times)), "frame times strictly increase"
    # One shot: a frame at or after 0, 2 and 4 s among those the shot pass decodes (reference frames only).
    wanted = [min(t for t in VFR_MOMENTS_MS if t >= target) / 1000 for target in range(0, 5000, 2000)]
    assert len(times) == 3 and all(t >= w - 0.002 for t, w in zip(times, wanted, strict=True)), times
    assert times[-1] > 4, "sampled on past the header's duration, to the last frames"


def test_file_size_bomb_is_refused_without_reading_it(tmp_path, encoder):
    make_corpus(tmp_path, tuple(c for c in CASES if c.name == "size-bomb.jpg"))
    path = tmp_path / "size-bomb.jpg"
    file = ScannedFile(str(path), path.stat().st_size, path.stat().st_mtime_ns, "image")
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="larger than the limit"):
            decode_file(file, encoder.to_array, DecodeOptions(encoder.image_size))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{peak >> 20} MiB allocated to refuse a file by its size"


@pytest.mark.parametrize(("mode", "top"), [("I;16", 65535), ("I", 65535), ("F", 1.0), ("I", 255)])
def test_deep_single_channel_modes_keep_their_mid_tones(mode, top):
    from zhclip.media import to_rgb

    ramp = np.linspace(0, top, 64 * 64).reshape(64, 64)
    image = Image.fromarray(ramp.astype(np.uint16 if mode == "I;16" else np.float32 if mode == "F" else np.int32))
    assert image.mode == mode
    assert abs(np.asarray(to_rgb(image)).mean() - 127.5) < 2, "a ramp from black to white stays one"


def test_links_are_reported_not_followed(tmp_path, encoder):
    lib, elsewhere = tmp_path / "lib", tmp_path / "elsewhere"
    photo(elsewhere / "a.jpg", 1)
    photo(lib / "real.jpg", 2)
    (lib / "album").symlink_to(elsewhere)  # a folder link
    (lib / "notes.txt").symlink_to(elsewhere / "a.jpg")  # not media by its name: left out quietly
    (tmp_path / "root-link.jpg").symlink_to(lib / "real.jpg")  # a link given as a root
    summary = index_library(tmp_path / "lib.db", [lib, tmp_path / "root-link.jpg"], encoder, FAST)
    reasons = dict(summary.failed)
    assert set(reasons) == {str(lib / "album"), str(tmp_path / "root-link.jpg")}
    assert all("symbolic link" in r for r in reasons.values()) and summary.new == 1
