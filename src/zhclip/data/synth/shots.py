"""Test videos with shots at known times: coloured, textured scenes that pan slowly (so that frames within a shot
differ, as a camera's do), joined by hard cuts or by cross-dissolves. For tests and benchmarks of shot detection."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ...media import write_video


def scene_texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A (height, width, 3) uint8 texture: smooth blobs of one random hue, with fine grain."""
    hue = rng.uniform(0, 1, 3)
    coarse = rng.uniform(0, 1, (max(2, height // 24), max(2, width // 24), 1))
    smooth = np.asarray(
        Image.fromarray((coarse[..., 0] * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC),
        np.float32,
    )[..., None]
    base = 40 + 180 * hue[None, None, :] * (0.4 + 0.6 * smooth / 255)
    grain = rng.normal(0, 6, (height, width, 1))
    return np.clip(base + grain, 0, 255).astype(np.uint8)


def scene_frames(
    starts: Sequence[float],
    duration: float,
    fps: int,
    size: tuple[int, int],
    seed: int = 0,
    dissolve: float = 0.0,
    pan: float = 40.0,
) -> Iterator[Image.Image]:
    """Frames of scenes beginning at `starts` (seconds; the first is 0) until `duration`; each scene pans `pan`
    pixels a second. With `dissolve` > 0 each change is a cross-dissolve of that many seconds ending at its start
    time instead of a hard cut."""
    width, height = size
    rng = np.random.default_rng(seed)
    margin = int(pan * duration) + 1
    textures = [scene_texture(rng, width + margin, height) for _ in starts]
    bounds = [*starts[1:], duration]

    def picture(scene: int, t: float) -> np.ndarray:
        x = int(pan * t)
        return textures[scene][:, x : x + width].astype(np.float32)

    for n in range(round(duration * fps)):
        t = n / fps
        scene = sum(s <= t + 1e-9 for s in starts) - 1
        frame = picture(scene, t)
        following = bounds[scene]
        if dissolve > 0 and scene + 1 < len(starts) and following - dissolve <= t:
            mix = (t - (following - dissolve)) / dissolve
            frame = (1 - mix) * frame + mix * picture(scene + 1, t)
        yield Image.fromarray(frame.astype(np.uint8))


def scene_video(
    path: str | Path,
    starts: Sequence[float],
    duration: float,
    fps: int = 25,
    size: tuple[int, int] = (160, 96),
    seed: int = 0,
    dissolve: float = 0.0,
) -> Path:
    """An H.264 MP4 of `scene_frames` (keyframes every second, as phones write them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = scene_frames(starts, duration, fps, size, seed, dissolve)
    write_video(path, frames, fps, size, {"g": str(fps), "crf": "23"})
    return path


def boundary_f1(found: Sequence[float], truth: Sequence[float], tolerance: float) -> tuple[float, float, float]:
    """(precision, recall, F1) of found shot boundaries against true ones (the video's start left out of both):
    each true boundary matches at most one found within `tolerance` seconds, nearest first."""
    found = sorted(t for t in found if t > 0)
    truth = sorted(t for t in truth if t > 0)
    unmatched = list(found)
    hits = 0
    for t in truth:
        near = [f for f in unmatched if abs(f - t) <= tolerance]
        if near:
            unmatched.remove(min(near, key=lambda f: abs(f - t)))
            hits += 1
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
