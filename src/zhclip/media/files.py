"""What every media reader shares: the media suffixes, the limits a file must keep, and the facts it yields."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import DecodeError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"})
HEIF_SUFFIXES = frozenset({".heic", ".heif"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".flv"})
AUDIO_SUFFIXES = frozenset({".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus"})  # libraries with speech on
# pillow-heif and PyAV are dependencies of zhclip's default install; a reader that misses one says how to add it.
HEIF_PACKAGE = "pillow-heif (pip install pillow-heif)"
AV_PACKAGE = "PyAV (pip install av)"


def media_kind(path: str | Path, audio: bool = False) -> str | None:
    """ "image", "video", "audio" (only when `audio`) or None, by the file name's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if audio and suffix in AUDIO_SUFFIXES:
        return "audio"
    return None


@dataclass(frozen=True)
class Limits:
    """What a file may be before any pixel of it is decoded (sizes come from the file and its header)."""

    max_bytes: int = 512 << 20  # image files; videos are streamed
    max_pixels: int = Image.MAX_IMAGE_PIXELS or 89_478_485  # per image or video frame
    min_side: int = 1


DEFAULT_LIMITS = Limits()


@dataclass
class MediaInfo:
    """Facts about one file: its upright full-resolution size and, when known, duration, date and camera."""

    width: int
    height: int
    duration: float | None = None
    taken_at: float | None = None  # EXIF DateTimeOriginal as a POSIX timestamp (naive local time)
    camera: str | None = None
    shots: list[float] | None = None  # shot start times in seconds (videos read with shot detection)


def check_size(name: str | Path, width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise DecodeError(
            name, f"{width}x{height} is more than the limit of {limits.max_pixels:,} pixels (decompression bomb?)"
        )
    if min(width, height) < limits.min_side:
        raise DecodeError(name, f"{width}x{height} is smaller than the minimum {limits.min_side}x{limits.min_side}")


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The file's bytes; a file over `limit` is refused by its size, before a byte is read."""
    too_big = _too_big(path, limit)
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > limit:
                raise too_big
            data = fh.read(limit + 1)  # the file may have grown since
    except OSError as exc:
        raise unreadable(path, exc) from None
    if not data:
        raise DecodeError(path, "empty file (0 bytes)")
    if len(data) > limit:
        raise too_big
    return data


def check_file_size(path: str | Path, limit: int) -> None:
    """Refuse a file over `limit` bytes, or one that is missing or cannot be looked at."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise unreadable(path, exc) from None
    if size > limit:
        raise _too_big(path, limit)


def unreadable(path: str | Path, exc: OSError) -> DecodeError:
    if isinstance(exc, FileNotFoundError):
        return DecodeError(path, "no such file")
    return DecodeError(path, f"cannot read: {exc.strerror or exc}")


def _too_big(path: str | Path, limit: int) -> DecodeError:
    return DecodeError(path, f"image file is larger than the limit of {limit >> 20} MiB")
