"""Small JPEG previews of images and video frames."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from .images import open_image, to_rgb
from .video import video_frame


def thumbnail(path: str | Path, kind: str, size: int, at: float | None = None) -> bytes:
    """A JPEG no larger than size x size: the image (decoded in draft mode near that size), or for a video
    the frame at `at` seconds (default: the first)."""
    image = video_frame(path, at or 0.0) if kind == "video" else open_image(path, draft=size, rgb=True)
    return jpeg_bytes(image, size)


def jpeg_bytes(image: Image.Image, size: int, quality: int = 82) -> bytes:
    """`image` as an RGB JPEG no larger than size x size."""
    image = to_rgb(image)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
