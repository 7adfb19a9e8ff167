"""Step 2 of indexing: hash a media file and decode it into model-ready pixel arrays.

Images are decoded with JPEG draft mode (DCT scaling to near the model's input size), EXIF orientation
applied, size limits enforced before any pixel is decoded. HEIC/HEIF comes through pillow-heif. Videos are
sampled one frame every `frame_interval` seconds by seeking (PyAV), each frame keeping its timestamp.
Everything that goes wrong becomes a `DecodeError` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DecodeError
from .scan import ScannedFile

try:  # HEIC/HEIF support is an optional extra
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - the search extra installs it
    pillow_heif = None

HASH_CHUNK = 1 << 20
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 36867
EXIF_DATETIME = 306
EXIF_MAKE, EXIF_MODEL = 271, 272

ToArray = Callable[[Image.Image], np.ndarray]


@dataclass(frozen=True)
class DecodeOptions:
    image_size: int  # the model's input resolution: the draft-mode target
    frame_interval: float = 2.0  # seconds between sampled video frames
    min_side: int = 64  # images smaller than this (either side) are skipped
    max_pixels: int = Image.MAX_IMAGE_PIXELS or 89_478_485  # per image or video frame
    max_image_bytes: int = 512 << 20
    max_frames: int = 1000  # per video; longer videos are sampled less often


@dataclass
class MediaInfo:
    width: int
    height: int
    duration: float | None = None
    taken_at: float | None = None  # EXIF DateTimeOriginal as a POSIX timestamp (naive local time)
    camera: str | None = None


@dataclass
class Decoded:
    """One file's content: its hash, facts, and pixels (one row per image, one per sampled video frame)."""

    file: ScannedFile
    hash: str
    info: MediaInfo | None = None  # None when the content was already in the library (not decoded)
    times: list[float] | None = None  # frame timestamps (videos)
    pixels: np.ndarray | None = None  # (rows, 3, S, S) float32


def decode_file(
    file: ScannedFile, to_array: ToArray, options: DecodeOptions, known_hashes: Container[str] = frozenset()
) -> Decoded:
    """Hash `file`; decode it unless its hash is in `known_hashes` (content already encoded)."""
    if file.kind == "image":
        data = _read_image_bytes(file.path, options.max_image_bytes)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        if digest in known_hashes:
            return Decoded(file, digest)
        info, pixels = decode_image(io.BytesIO(data), to_array, options, file.path)
        return Decoded(file, digest, info, None, pixels[None])
    digest = hash_file(file.path)
    if digest in known_hashes:
        return Decoded(file, digest)
    info, times, pixels = decode_video(file.path, to_array, options)
    return Decoded(file, digest, info, times, pixels)


def hash_file(path: str | Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DecodeError(path, f"cannot read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _read_image_bytes(path: str, limit: int) -> bytes:
    """The file's bytes; a file over `limit` is refused by its size, before a byte is read."""
    too_big = DecodeError(path, f"image file is larger than the limit of {limit >> 20} MiB")
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > limit:
                raise too_big
            data = fh.read(limit + 1)  # the file may have grown since
    except OSError as exc:
        raise DecodeError(path, f"cannot read: {exc.strerror or exc}") from None
    if not data:
        raise DecodeError(path, "empty file (0 bytes)")
    if len(data) > limit:
        raise too_big
    return data


# ------------------------------------------------------------------ images


def decode_image(
    source: str | Path | io.BytesIO, to_array: ToArray, options: DecodeOptions, name: str | Path
) -> tuple[MediaInfo, np.ndarray]:
    """(facts, pixels (3, S, S)). Size limits are checked from the header, before decoding pixels."""
    try:
        with Image.open(source) as img:
            width, height = img.size
            _check_size(name, width, height, options)
            exif = img.getexif()
            img.draft("RGB", (options.image_size, options.image_size))
            upright = ImageOps.exif_transpose(img)
            pixels = to_array(upright)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError(name, "not an image (unrecognised or corrupt format)") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, MemoryError) as exc:
        raise DecodeError(name, f"cannot decode image: {exc}") from None
    if exif.get(0x0112, 1) in (5, 6, 7, 8):
        width, height = height, width
    return MediaInfo(width, height, None, _exif_time(exif), _exif_camera(exif)), pixels


def _check_size(name: str | Path, width: int, height: int, options: DecodeOptions) -> None:
    if width * height > options.max_pixels:
        raise DecodeError(
            name, f"{width}x{height} is more than the limit of {options.max_pixels:,} pixels (decompression bomb?)"
        )
    if min(width, height) < options.min_side:
        raise DecodeError(name, f"{width}x{height} is smaller than the minimum {options.min_side}x{options.min_side}")


def _exif_time(exif: Image.Exif) -> float | None:
    raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _exif_camera(exif: Image.Exif) -> str | None:
    parts = [str(exif.get(tag, "")).strip("\x00 ") for tag in (EXIF_MAKE, EXIF_MODEL)]
    camera = " ".join(p for p in parts if p)
    return camera[:100] or None


# ------------------------------------------------------------------ videos


def decode_video(
    path: str | Path, to_array: ToArray, options: DecodeOptions
) -> tuple[MediaInfo, list[float], np.ndarray]:
    """(facts, frame timestamps, pixels (frames, 3, S, S)): one frame every `frame_interval` seconds."""
    import av

    times: list[float] = []
    arrays: list[np.ndarray] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            width, height = stream.codec_context.width, stream.codec_context.height
            _check_size(path, width, height, options)
            duration = _video_duration(container, stream)
            for frame in _sample_frames(container, stream, duration, options):
                times.append(round(float(frame.time), 3))
                arrays.append(to_array(frame.to_image()))
    except DecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError, MemoryError) as exc:
        if not arrays:
            raise DecodeError(path, f"cannot decode video: {exc}") from None
    if not arrays:
        raise DecodeError(path, "no decodable video frames")
    return MediaInfo(width, height, max(duration or 0.0, times[-1])), times, np.stack(arrays)


def _video_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _sample_frames(container, stream, duration: float | None, options: DecodeOptions) -> Iterator:
    """Seek to each sample time and decode forward to the first frame at or after it, until no frame is
    left. The header's duration only spreads the samples of long videos: it can be short of the real end
    (variable frame rate, damaged or streamed files), so it is never where sampling stops."""
    interval = (
        options.frame_interval if duration is None else max(options.frame_interval, duration / options.max_frames)
    )
    last = -math.inf
    for i in range(options.max_frames):
        target = i * interval
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
        frame = next((f for f in container.decode(stream) if f.time is not None and f.time >= target - 1e-3), None)
        if frame is None:
            return
        if frame.time > last:
            last = frame.time
            yield frame
