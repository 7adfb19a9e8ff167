"""Shot-aware sampling: every shot has a frame, long shots one every frame interval; OCR reads the same frames."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3

import numpy as np
import pytest

from zhclip.data.synth.shots import scene_video
from zhclip.media.shots import snap
from zhclip.search import Query, Reader
from zhclip.search.decode import DecodeOptions, decode_video
from zhclip.search.query import Hit

pytest.importorskip("av")
FPS = 25
CUTS = [0.0, 0.6, 1.4, 6.2]  # shots of 0.6 s, 0.8 s, 4.8 s and 1.8 s
TOLERANCE = 1 / 8 + 1 / FPS


def _size(image) -> np.ndarray:
    return np.array(image.size)


@pytest.fixture(scope="module")
def cuts_video(tmp_path_factory):
    return scene_video(tmp_path_factory.mktemp("shots") / "cuts.mp4", CUTS, 8.0, FPS, seed=4)


def test_each_shot_sampled_and_long_shots_every_interval(cuts_video):
    info, times, pixels = decode_video(cuts_video, _size, DecodeOptions(224, frame_interval=2.0))
    assert info.shots == pytest.approx(CUTS, abs=TOLERANCE)
    assert times == pytest.approx([0.0, 0.6, 1.4, 3.4, 5.4, 6.2], abs=TOLERANCE)
    assert len(pixels) == len(times)
    shot_of = np.searchsorted(info.shots, times, side="right") - 1
    assert set(shot_of) == set(range(len(CUTS))), "every shot has a frame"


def test_fixed_sampling_misses_short_shots(cuts_video):
    info, times, _ = decode_video(cuts_video, _size, DecodeOptions(224, frame_interval=2.0, shots=None))
    assert info.shots is None
    assert times == pytest.approx([0.0, 2.0, 4.0, 6.0], abs=1e-3)


def test_ocr_reads_the_frames_clip_encodes(cuts_video):
    """OCR decodes at its own size (and no minimum side) but at the same frame times."""
    _, clip_times, _ = decode_video(cuts_video, _size, DecodeOptions(224, 2.0, 64))
    _, ocr_times, _ = decode_video(cuts_video, _size, DecodeOptions(960, 2.0, min_side=1))
    assert ocr_times == clip_times


def test_a_segment_snaps_to_the_shot_around_it():
    shots = [0.0, 4.0, 9.5, 30.0]
    assert snap(5.0, 8.0, shots) == (4.0, 9.5), "a speech line inside a shot: the whole shot"
    assert snap(4.0, 7.0, shots) == (4.0, 9.5), "a segment already at its shot's start keeps it"
    assert snap(20.0, 22.0, shots) == (20.0, 22.0), "in a long shot the match stays where it is"
    assert snap(11.0, 31.0, shots) == (9.5, 31.0), "no boundary known after the last shot's start"


def test_indexing_stores_each_video_s_shot_starts(tmp_path, index, cuts_video):
    (tmp_path / "lib").mkdir()
    shutil.copy(cuts_video, tmp_path / "lib" / "cuts.mp4")
    index(tmp_path / "lib.db", tmp_path / "lib")
    with sqlite3.connect(tmp_path / "lib.db") as conn:
        ((shots,),) = conn.execute("SELECT shots FROM contents WHERE kind = 'video'")
        times = [t for (t,) in conn.execute("SELECT t FROM vectors ORDER BY t")]
    assert json.loads(shots) == pytest.approx(CUTS, abs=TOLERANCE)
    record = Reader(tmp_path / "lib.db").file_by_path(str(tmp_path / "lib" / "cuts.mp4"))
    assert record.shots == pytest.approx(CUTS, abs=TOLERANCE), "the file JSON the viewer reads has them"
    assert times == pytest.approx([0.0, 0.6, 1.4, 3.4, 5.4, 6.2], abs=TOLERANCE)


def test_a_result_starts_where_its_shot_starts(tmp_path, index, searcher, cuts_video):
    """A line heard at 2.0-3.0 s, in the shot of 1.4-6.2 s: the result starts at 1.4 s (its end is 3.2 s short of
    the shot's, beyond the snapping reach); a CLIP segment from a frame at 6.5 s to the end starts at 6.2 s."""
    (tmp_path / "lib").mkdir()
    shutil.copy(cuts_video, tmp_path / "lib" / "cuts.mp4")
    index(tmp_path / "lib.db", tmp_path / "lib")
    found = searcher(tmp_path / "lib.db")
    content_id = found.library.reader.file_by_path(str(tmp_path / "lib" / "cuts.mp4")).content_id
    hits = [Hit(content_id, 1.0, 2.0, 3.0, 2.0), Hit(content_id, 0.9, 6.5, math.inf, 6.5)]
    results = found.hits_page(Query(text="x"), hits).results
    assert [r.start for r in results] == pytest.approx([1.4, 6.2], abs=TOLERANCE)
    assert [r.end for r in results] == pytest.approx([3.0, 8.0], abs=0.05)
