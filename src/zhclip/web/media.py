"""Bytes the page shows: JPEG thumbnails of images and video frames, and video segment clips."""

from __future__ import annotations

from functools import lru_cache

from .. import media
from ..errors import DecodeError
from ..search.store import FileRecord

THUMB_SIZES = (128, 256, 512)
MAX_CLIP_SECONDS = 600


def thumbnail(record: FileRecord, size: int, at: float | None) -> bytes:
    """A JPEG no larger than size x size (videos: the frame at `at` seconds, else the first)."""
    at = None if record.kind == "image" else round(at or 0.0, 1)
    size = next((s for s in THUMB_SIZES if s >= size), THUMB_SIZES[-1])  # a few sizes, so the cache works
    return _thumbnail(record.path, record.mtime_ns, record.kind, size, at)


@lru_cache(maxsize=1024)
def _thumbnail(path: str, mtime_ns: int, kind: str, size: int, at: float | None) -> bytes:
    return media.thumbnail(path, kind, size, at)


def clip(record: FileRecord, start: float, end: float) -> bytes:
    """The segment [start, end] as an MP4 with its sound, copied without re-encoding (see `zhclip.media.cut_clip`)."""
    if record.kind != "video":
        raise DecodeError(record.path, "clips can only be cut from videos")
    return media.cut_clip(record.path, start, min(end, start + MAX_CLIP_SECONDS))
