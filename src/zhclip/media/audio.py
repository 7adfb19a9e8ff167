"""Reading the sound of audio and video files with PyAV: the first audio stream, decoded once from start to end,
resampled to 16 kHz mono float32 (what speech models take) and handed out in windows of bounded length, so a
two-hour film never sits in memory whole. A file without sound, or whose sound cannot be decoded, is a
`DecodeError` saying which."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DecodeError
from .files import AV_PACKAGE, MediaInfo

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 600.0  # 38 MB of samples per window


@dataclass(frozen=True)
class AudioWindow:
    start: float  # seconds from the start of the file
    samples: np.ndarray  # float32 in [-1, 1], 16 kHz mono


def _av(path: str | Path):
    try:
        import av
    except ImportError:
        raise DecodeError(path, f"audio needs {AV_PACKAGE}") from None
    return av


def audio_info(path: str | Path) -> MediaInfo:
    """Facts of an audio file: its duration (width and height 0), from the header, without decoding."""
    av = _av(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = _audio_stream(container, path)
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = container.duration / 1_000_000 if container.duration else None
    except av.FFmpegError as exc:
        raise DecodeError(path, f"cannot read audio: {exc}") from None
    return MediaInfo(0, 0, duration)


def audio_windows(path: str | Path, window: float = WINDOW_SECONDS) -> Iterator[AudioWindow]:
    """The file's sound as consecutive windows of at most `window` seconds (the last one shorter), timed like the
    file's pictures (a sound track that starts late starts its first window late). A damaged tail ends the sound
    where it breaks; sound that cannot be decoded at all is a DecodeError."""
    av = _av(path)
    limit = int(window * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    held = sent = 0  # samples waiting, samples handed out
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = _audio_stream(container, path)
            offset = max(0.0, float(stream.start_time * stream.time_base)) if stream.start_time else 0.0
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for samples in _decoded(av, container, stream, resampler, path):
                pending.append(samples)
                held += len(samples)
                while held >= limit:
                    joined = np.concatenate(pending)
                    yield AudioWindow(offset + sent / SAMPLE_RATE, joined[:limit])
                    pending, held, sent = [joined[limit:]], held - limit, sent + limit
    except av.FFmpegError as exc:
        raise DecodeError(path, f"cannot read audio: {exc}") from None
    if held:
        yield AudioWindow(offset + sent / SAMPLE_RATE, np.concatenate(pending))
    elif not sent:
        raise DecodeError(path, "the audio stream holds no sound")


def read_audio(path: str | Path, max_seconds: float | None = None) -> np.ndarray:
    """The first `max_seconds` (default: all) of the file's sound, 16 kHz mono float32."""
    windows = audio_windows(path, max_seconds or WINDOW_SECONDS)
    if max_seconds is not None:
        return next(windows).samples
    return np.concatenate([w.samples for w in windows])


def _audio_stream(container, path: str | Path):
    if not container.streams.audio:
        raise DecodeError(path, "no audio stream")
    return container.streams.audio[0]


def _decoded(av, container, stream, resampler, path: str | Path) -> Iterator[np.ndarray]:
    """Resampled mono float32 chunks of `stream`, flushed at the end. A decoding error after some sound ends
    the sound there (a damaged tail); before any, it is the file's DecodeError."""
    some = False
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                some = True
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)
    except (av.FFmpegError, ValueError) as exc:
        if not some:
            raise DecodeError(path, f"cannot decode audio: {exc}") from None
