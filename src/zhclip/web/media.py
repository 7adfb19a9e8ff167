"""Bytes the page shows: JPEG thumbnails of images and video frames, and video segment clips."""

from __future__ import annotations

import io
import tempfile
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageOps

from ..models.transform import to_rgb
from ..search.errors import DecodeError
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
    image = to_rgb(_video_frame(path, at or 0.0) if kind == "video" else _image(path, size))
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()


def _image(path: str, size: int) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))
            return ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DecodeError(path, f"cannot decode image: {exc}") from None


def _video_frame(path: str, at: float) -> Image.Image:
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            container.seek(int(at / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= at - 0.05:
                    return frame.to_image()
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise DecodeError(path, f"cannot decode video: {exc}") from None
    raise DecodeError(path, f"no frame at {at:.1f} s")


def clip(record: FileRecord, start: float, end: float) -> bytes:
    """The segment [start, end] as an MP4 with its sound, copied without re-encoding (it starts at the
    keyframe before `start`, so it may begin a little early)."""
    import av

    if record.kind != "video":
        raise DecodeError(record.path, "clips can only be cut from videos")
    end = min(end, start + MAX_CLIP_SECONDS)
    try:
        with av.open(record.path) as source, tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
            video = source.streams.video[0]
            streams = [video, *source.streams.audio[:1]]
            with av.open(tmp.name, "w", format="mp4") as out:
                targets = {s.index: out.add_stream_from_template(s) for s in streams}
                source.seek(int(start / video.time_base), stream=video, backward=True)
                _copy_packets(source, streams, targets, out, end)
            return Path(tmp.name).read_bytes()
    except (av.FFmpegError, OSError, IndexError, ValueError) as exc:
        raise DecodeError(record.path, f"cannot cut a clip: {exc}") from None


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
