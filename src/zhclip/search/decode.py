"""Step 2 of indexing: hash a media file and decode it into model-ready pixel arrays.

Decoding is `zhclip.media`'s: JPEG draft mode near the model's input size, EXIF orientation, size limits
before any pixel is decoded, HEIC/HEIF, and videos sampled shot by shot: each shot's first frame, then one
every `frame_interval` seconds within it, each frame keeping its timestamp (the shot start times come with the
video's facts). Everything that goes wrong becomes a `DecodeError` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ..errors import DecodeError
from ..media import (
    DEFAULT_LIMITS,
    DEFAULT_SHOTS,
    Limits,
    MediaInfo,
    ShotOptions,
    load_image,
    read_bytes,
    read_video_frames,
)
from ..media.audio import audio_info
from .scan import ScannedFile

HASH_CHUNK = 1 << 20

ToArray = Callable[[Image.Image], np.ndarray]


@dataclass(frozen=True)
class DecodeOptions:
    image_size: int  # the model's input resolution: the draft-mode target
    frame_interval: float = 2.0  # seconds between sampled video frames within a shot
    min_side: int = 64  # images smaller than this (either side) are skipped
    max_pixels: int = DEFAULT_LIMITS.max_pixels  # per image or video frame
    max_image_bytes: int = DEFAULT_LIMITS.max_bytes
    max_frames: int = 1000  # per video; longer videos are sampled less often
    shots: ShotOptions | None = DEFAULT_SHOTS  # None: one frame every `frame_interval` seconds, shots unknown

    @property
    def limits(self) -> Limits:
        return Limits(self.max_image_bytes, self.max_pixels, self.min_side)


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
        data = read_bytes(file.path, options.max_image_bytes)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        if digest in known_hashes:
            return Decoded(file, digest)
        info, pixels = decode_image(data, to_array, options, file.path)
        return Decoded(file, digest, info, None, pixels[None])
    digest = hash_file(file.path)
    if digest in known_hashes:
        return Decoded(file, digest)
    if file.kind == "audio":  # found by what is said (speech): no pictures to encode
        return Decoded(
            file,
            digest,
            audio_info(file.path),
            [],
            np.empty((0, 3, options.image_size, options.image_size), np.float32),
        )
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


def decode_image(
    source: str | Path | bytes | BinaryIO, to_array: ToArray, options: DecodeOptions, name: str | Path
) -> tuple[MediaInfo, np.ndarray]:
    """(facts, pixels (3, S, S)). Size limits are checked from the header, before decoding pixels."""
    loaded = load_image(source, name=name, draft=options.image_size, rgb=True, limits=options.limits)
    return loaded.info, to_array(loaded.image)


def decode_video(
    path: str | Path, to_array: ToArray, options: DecodeOptions
) -> tuple[MediaInfo, list[float], np.ndarray]:
    """(facts with the shot start times, frame timestamps, pixels (frames, 3, S, S)): each shot's first frame and
    one every `frame_interval` seconds within it. OCR reads videos through here too, at the same times."""
    info, times, arrays = read_video_frames(
        path,
        to_array,
        options.frame_interval,
        max_frames=options.max_frames,
        limits=options.limits,
        shots=options.shots,
    )
    return info, times, np.stack(arrays)
