"""Shot boundaries: hard cuts found at their times, gradual change and motion not taken for cuts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zhclip.data.synth.shots import boundary_f1, scene_video
from zhclip.media import DEFAULT_SHOTS, ShotOptions, detect_shots, read_video_frames, write_video
from zhclip.media.shots import ShotDetector

pytest.importorskip("av")
FPS = 25
TOLERANCE = 1 / DEFAULT_SHOTS.rate + 1 / FPS  # a cut is seen at the first compared frame after it


def test_hard_cuts_found_at_their_times(tmp_path):
    cuts = [0.0, 1.6, 3.4, 4.2, 6.0, 8.84]
    found = detect_shots(scene_video(tmp_path / "cuts.mp4", cuts, 10.0, FPS, seed=1))
    assert boundary_f1(found, cuts, TOLERANCE) == (1.0, 1.0, 1.0), found
    assert found[0] == 0.0
    assert all(0 <= f - t <= TOLERANCE for f, t in zip(found, cuts, strict=True)), "never before the cut"


@pytest.mark.parametrize(
    ("name", "starts", "dissolve"),
    [("one shot, panning", [0.0], 0.0), ("cross-dissolves", [0.0, 3.0, 6.0], 1.0)],
)
def test_no_cut_in_one_shot_or_a_dissolve(tmp_path, name, starts, dissolve):
    video = scene_video(tmp_path / "v.mp4", starts, 8.0, FPS, seed=2, dissolve=dissolve)
    assert detect_shots(video) == [0.0], name


def test_a_still_video_is_one_shot(tmp_path):
    path = tmp_path / "still.mp4"
    write_video(path, [Image.new("RGB", (64, 48), (90, 140, 30))] * 30, 10, (64, 48))
    assert detect_shots(path) == [0.0]


def _decided(detector: ShotDetector, scores: list[float]) -> list[float]:
    """Feed thumbnails whose successive mean differences are `scores`, one every 1/rate seconds."""
    thumbnail = np.zeros((4, 4, 3), np.float32)
    out = []
    for n, score in enumerate([0.0, *scores]):
        thumbnail = thumbnail + score if n % 2 else thumbnail - score
        out += detector.push(n / detector.options.rate, thumbnail, n)
    out += detector.flush()
    assert [item for _, item, _ in out] == list(range(len(scores) + 1)), "every frame decided once, in order"
    return [t for t, _, starts in out if starts]


def test_motion_raises_every_difference_a_cut_raises_one():
    rate = DEFAULT_SHOTS.rate
    assert _decided(ShotDetector(), [30.0] * 20) == [0.0], "fast motion: all differences high alike"
    assert _decided(ShotDetector(), [2.0] * 9 + [60.0] + [2.0] * 9) == [0.0, 10 / rate]
    assert _decided(ShotDetector(), [2.0] * 9 + [8.0] + [2.0] * 9) == [0.0], "under min_score"
    close = [2.0] * 9 + [60.0, 2.0, 60.0] + [2.0] * 9  # a second cut 0.25 s after the first
    assert _decided(ShotDetector(ShotOptions(min_shot=0.5)), close) == [0.0, 10 / rate]


def test_shot_sampling_keeps_the_first_frame_of_each_shot(tmp_path):
    cuts = [0.0, 0.8, 5.6]
    video = scene_video(tmp_path / "cuts.mp4", cuts, 8.0, FPS, seed=3)
    info, times, frames = read_video_frames(video, lambda image: image.size, 2.0, shots=DEFAULT_SHOTS)
    assert info.shots == pytest.approx(cuts, abs=TOLERANCE)
    assert times == pytest.approx([0.0, 0.8, 2.8, 4.8, 5.6, 7.6], abs=TOLERANCE)
    assert len(frames) == len(times)
