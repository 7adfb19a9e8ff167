"""Opening images: limits checked from the header, EXIF orientation and facts, HEIC/HEIF, JPEG draft mode,
and conversion of any mode (16/32-bit and float grey, CMYK, palettes) to 8-bit RGB."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DecodeError
from .files import DEFAULT_LIMITS, HEIF_PACKAGE, HEIF_SUFFIXES, Limits, MediaInfo, check_file_size, check_size

# What the decoders raise on a file they cannot decode; every reader here turns these into a DecodeError.
UNDECODABLE = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, MemoryError)

EXIF_ORIENTATION = 0x0112
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 36867
EXIF_DATETIME = 306
EXIF_MAKE, EXIF_MODEL = 271, 272
SIDEWAYS = (5, 6, 7, 8)  # orientations that swap width and height
WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # 16/32-bit integer and float single-channel

ImageSource = str | Path | bytes | BinaryIO


@dataclass
class LoadedImage:
    image: Image.Image  # decoded; upright unless opened with orient=False
    info: MediaInfo  # full-resolution size (upright), EXIF date and camera
    orientation: int  # the EXIF orientation tag (1: stored upright)


@cache
def register_heif() -> bool:
    """Let PIL open (and save) HEIC/HEIF through pillow-heif; False when that extra is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def open_image(source: ImageSource, **options) -> Image.Image:
    """Decode an image (a path, bytes or a binary file); the options are `load_image`'s."""
    return load_image(source, **options).image


def load_image(
    source: ImageSource,
    *,
    name: str | Path | None = None,
    draft: int | None = None,
    orient: bool = True,
    rgb: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> LoadedImage:
    """Decode an image and read its facts. Limits are checked from the file size and the header, before any
    pixel is decoded; `draft` lets JPEGs decode at a reduced scale no smaller than draft x draft; `orient`
    applies the EXIF orientation; `rgb` converts to 8-bit RGB (`to_rgb`). Every failure is a DecodeError
    naming `name` (default: the path)."""
    name = name if name is not None else (source if isinstance(source, str | Path) else "image")
    stream = _stream(source, name, limits.max_bytes)
    register_heif()
    try:
        with Image.open(stream) as img:
            width, height = img.size
            check_size(name, width, height, limits)
            exif = img.getexif()
            if draft:
                img.draft("RGB", (draft, draft))
            image = ImageOps.exif_transpose(img) if orient else _loaded(img)
            if rgb:
                image = to_rgb(image)
    except UnidentifiedImageError:
        raise DecodeError(name, _unidentified(name)) from None
    except UNDECODABLE as exc:
        raise DecodeError(name, f"cannot decode image: {exc}") from None
    orientation = exif.get(EXIF_ORIENTATION, 1)
    if orientation in SIDEWAYS:
        width, height = height, width
    return LoadedImage(image, MediaInfo(width, height, None, _exif_time(exif), _exif_camera(exif)), orientation)


def _stream(source: ImageSource, name: str | Path, max_bytes: int) -> str | Path | BinaryIO:
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, io.BytesIO):
        if source.getbuffer().nbytes > max_bytes:
            raise DecodeError(name, f"image file is larger than the limit of {max_bytes >> 20} MiB")
    elif isinstance(source, str | Path):
        check_file_size(source, max_bytes)
    return source


def _loaded(img: Image.Image) -> Image.Image:
    img.load()
    return img


def _unidentified(name: str | Path) -> str:
    if Path(str(name)).suffix.lower() in HEIF_SUFFIXES and not register_heif():
        return f"cannot decode image: HEIC/HEIF needs {HEIF_PACKAGE}"
    return "cannot decode image: not an image (unrecognised or corrupt format)"


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


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB. Single-channel images deeper than 8 bits are scaled into 0..255 first: PIL's own
    conversion clips them, which turns a 16-bit photo (0..65535) almost entirely white."""
    if image.mode in WIDE_MODES:
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") else float(values.max(initial=0.0))
        scale = next((s for s in (1.0, 255.0, 65535.0) if top <= s), top)
        image = Image.fromarray(np.clip(values * (255.0 / scale), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")
