"""Shot boundaries of a video, found on the frames zhclip decodes anyway (no OpenCV, no PySceneDetect).

A few frames a second are shrunk to small colour thumbnails; a frame starts a new shot when it differs from the
frame before by much more than its neighbours do from theirs (an adaptive threshold, as PySceneDetect's
`AdaptiveDetector` has it: camera motion raises every neighbour's difference alike, a hard cut raises one).
Gradual transitions (fades, dissolves) join their shots. Deciding a frame needs `window` frames after it, so
frames come out of the detector a little later than they go in, in order, each marked when it starts a shot.
`snap` moves a search result's segment out to the boundaries of its shot.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")
THUMBNAIL = (64, 36)  # (width, height) of the compared thumbnails
SNAP_REACH = 3.0  # seconds a result's segment may grow to reach the shot boundaries around it


@dataclass(frozen=True)
class ShotOptions:
    rate: float = 8.0  # frames compared per second of video
    min_score: float = 12.0  # mean absolute difference (0-255) of two thumbnails under which no cut is seen
    # A cut's difference is at least this many times its neighbours' mean difference. PySceneDetect has 3.0 for
    # consecutive frames; compared 1/8 s apart, motion differs ~3x more while a cut does not: 3.0 missed 5 of
    # 92 cuts between similar panning scenes (data.synth.shots, seed 7), 2.0 none, with no false cut in a
    # panning shot or across dissolves.
    ratio: float = 2.0
    window: int = 2  # neighbours on each side
    min_shot: float = 0.5  # seconds: a shot is at least this long (a flash is not two cuts)


DEFAULT_SHOTS = ShotOptions()


def frame_thumbnail(frame) -> np.ndarray:
    """A PyAV video frame as a small RGB float32 array (swscale's fast bilinear: ~1 ms for 1080p)."""
    width, height = THUMBNAIL
    small = frame.reformat(width=width, height=height, format="rgb24", interpolation="FAST_BILINEAR")
    return small.to_ndarray().astype(np.float32)


@dataclass
class _Compared(Generic[T]):
    time: float
    item: T
    score: float  # difference from the frame before (inf for the first)


class ShotDetector(Generic[T]):
    """Feed frames in time order (`due` says which to compare); each `push` and the final `flush` give back the
    frames decided since, in order, as (time, item, starts a shot). The first frame starts the first shot."""

    def __init__(self, options: ShotOptions = DEFAULT_SHOTS):
        self.options = options
        self.starts: list[float] = []  # shot start times decided so far
        self._pending: deque[_Compared[T]] = deque()  # frames not decided yet, after `window` decided ones
        self._decided = 0  # how many of `_pending`'s first frames are already decided (kept as left context)
        self._last: np.ndarray | None = None
        self._next_tick = -math.inf

    def due(self, time: float) -> bool:
        """Whether the frame at `time` is one to compare: the first at or after each 1/rate second tick."""
        return time >= self._next_tick - 1e-3

    def push(self, time: float, thumbnail: np.ndarray, item: T) -> list[tuple[float, T, bool]]:
        self._next_tick = (math.floor(time * self.options.rate + 1e-3) + 1) / self.options.rate
        score = math.inf if self._last is None else float(np.abs(thumbnail - self._last).mean())
        self._last = thumbnail
        self._pending.append(_Compared(time, item, score))
        return list(self._decide(final=False))

    def flush(self) -> list[tuple[float, T, bool]]:
        """The frames still undecided, decided with the neighbours there are (at the end of the video)."""
        return list(self._decide(final=True))

    def _decide(self, final: bool) -> Iterator[tuple[float, T, bool]]:
        window = self.options.window
        while len(self._pending) > self._decided and (final or len(self._pending) - self._decided > window):
            index = self._decided
            frame = self._pending[index]
            starts = self._starts_shot(frame, index)
            if starts:
                self.starts.append(frame.time)
            yield frame.time, frame.item, starts
            self._decided += 1
            if self._decided > window:
                self._pending.popleft()
                self._decided -= 1

    def _starts_shot(self, frame: _Compared[T], index: int) -> bool:
        if not self.starts:
            return True
        options = self.options
        if frame.score < options.min_score or frame.time - self.starts[-1] < options.min_shot:
            return False
        around = [f.score for i, f in enumerate(self._pending) if i != index and abs(i - index) <= options.window]
        around = [s for s in around if math.isfinite(s)]
        return not around or frame.score >= options.ratio * float(np.mean(around))


def snap(start: float, end: float, shots: Sequence[float], reach: float = SNAP_REACH) -> tuple[float, float]:
    """The segment [start, end] moved out to the shot boundaries around it: its start back to the start of the
    shot it begins in, its end on to the end of the shot it ends in, each only when that is at most `reach`
    seconds away (in a long shot a match stays where it is, not minutes off)."""
    at = bisect.bisect_right(shots, start + 1e-6) - 1
    if at >= 0 and start - shots[at] <= reach:
        start = shots[at]
    after = bisect.bisect_left(shots, end - 1e-6)
    if after < len(shots) and shots[after] - end <= reach:
        end = shots[after]
    return start, end
