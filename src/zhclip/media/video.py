"""Reading videos with PyAV (an optional extra, imported when a video is opened): frames sampled by time with
seeking until no frame is left, one frame at a time, segments copied out without re-encoding, and writing."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from ..errors import DecodeError
from .files import AV_PACKAGE, DEFAULT_LIMITS, Limits, MediaInfo, check_size
from .images import UNDECODABLE

T = TypeVar("T")


def _av(path: str | Path):
    try:
        import av
    except ImportError:
        raise DecodeError(path, f"videos need {AV_PACKAGE}") from None
    return av


def _errors(av) -> tuple[type[BaseException], ...]:
    """What decoding a video raises on a damaged file (PyAV's errors, and those of images)."""
    return (av.FFmpegError, *UNDECODABLE)


@contextmanager
def _open(path: str | Path):
    """(container, its first video stream), opened for decoding."""
    av = _av(path)
    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.video:
            raise DecodeError(path, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield container, stream


def _frame_from(container, stream, target: float, slack: float):
    """Seek to `target` seconds and decode forward to the first frame at or after it (less `slack`)."""
    container.seek(int(target / stream.time_base), stream=stream, backward=True)
    return next((f for f in container.decode(stream) if f.time is not None and f.time >= target - slack), None)


def read_video_frames(
    path: str | Path,
    convert: Callable[[Image.Image], T],
    interval: float,
    *,
    max_frames: int = 1000,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[MediaInfo, list[float], list[T]]:
    """(facts, frame timestamps, converted frames): one frame every `interval` seconds, each converted as it
    is decoded. A damaged tail ends the sampling; a video with no decodable frame is a DecodeError."""
    av = _av(path)
    times: list[float] = []
    frames: list[T] = []
    try:
        with _open(path) as (container, stream):
            width, height = stream.codec_context.width, stream.codec_context.height
            check_size(path, width, height, limits)
            duration = _duration(container, stream)
            for frame in _sample(container, stream, duration, interval, max_frames):
                times.append(round(float(frame.time), 3))
                frames.append(convert(frame.to_image()))
    except DecodeError:
        raise
    except _errors(av) as exc:
        if not frames:
            raise DecodeError(path, f"cannot decode video: {exc}") from None
    if not frames:
        raise DecodeError(path, "no decodable video frames")
    return MediaInfo(width, height, max(duration or 0.0, times[-1])), times, frames


def _duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _sample(container, stream, duration: float | None, interval: float, max_frames: int) -> Iterator:
    """Frames at 0, interval, 2 x interval... until no frame is left. The header's duration only spreads the
    samples of long videos: it can be short of the real end (variable frame rate, damaged or streamed
    files), so it is never where sampling stops."""
    interval = interval if duration is None else max(interval, duration / max_frames)
    last = -math.inf
    for i in range(max_frames):
        frame = _frame_from(container, stream, i * interval, 1e-3)
        if frame is None:
            return
        if frame.time > last:
            last = frame.time
            yield frame


def video_frame(path: str | Path, at: float) -> Image.Image:
    """The frame shown at `at` seconds."""
    av = _av(path)
    try:
        with _open(path) as (container, stream):
            frame = _frame_from(container, stream, at, 0.05)
            if frame is not None:
                return frame.to_image()
    except _errors(av) as exc:
        raise DecodeError(path, f"cannot decode video: {exc}") from None
    raise DecodeError(path, f"no frame at {at:.1f} s")


def cut_clip(path: str | Path, start: float, end: float) -> bytes:
    """The segment [start, end] as an MP4 with its sound, copied without re-encoding (it starts at the
    keyframe before `start`, so it may begin a little early)."""
    av = _av(path)
    try:
        with _open(path) as (source, video), tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
            streams = [video, *source.streams.audio[:1]]
            with av.open(tmp.name, "w", format="mp4") as out:
                targets = {s.index: out.add_stream_from_template(s) for s in streams}
                source.seek(int(start / video.time_base), stream=video, backward=True)
                _copy_packets(source, streams, targets, out, end)
            return Path(tmp.name).read_bytes()
    except _errors(av) as exc:
        raise DecodeError(path, f"cannot cut a clip: {exc}") from None


def _copy_packets(source, streams, targets, out, end: float) -> None:
    """Packets of `streams` from the seek point to a little past `end`, all shifted by the same time (the
    first video packet's), so that sound stays in step with the picture."""
    first = None  # seconds
    for packet in source.demux(streams):
        if packet.dts is None or packet.pts is None:
            continue
        at = float(packet.dts * packet.time_base)
        if at > end + 1:  # a little past the end: B-frames may refer ahead
            if packet.stream.type == "video":
                break
            continue
        if first is None:
            if packet.stream.type != "video":
                continue  # sound from before the first picture
            first = at
        if at < first:
            continue
        shift = round(first / packet.time_base)
        packet.dts -= shift
        packet.pts -= shift
        packet.stream = targets[packet.stream.index]
        out.mux(packet)


def write_video(
    path: str | Path, frames: Iterable[Image.Image], fps: int, size: tuple[int, int], options: dict | None = None
) -> None:
    """Write an H.264 MP4 (yuv420p) of `frames`, which are all `size` (width, height) already."""
    av = _av(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options=options or {})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.asarray(image.convert("RGB")), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
