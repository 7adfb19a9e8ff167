"""Image preprocessing exactly as Chinese-CLIP: RGB, square bicubic resize (no crop), CLIP mean/std."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import InputError

MEAN = np.array((0.48145466, 0.4578275, 0.40821073), dtype=np.float32)
STD = np.array((0.26862954, 0.26130258, 0.27577711), dtype=np.float32)


def open_image(path: str | Path) -> Image.Image:
    """Decode an image file, EXIF orientation applied; a clear InputError if it cannot be read."""
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
            return img
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise InputError(path, f"cannot decode image: {exc}") from None


WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # 16/32-bit integer and float single-channel


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB. Single-channel images deeper than 8 bits are scaled into 0..255 first: PIL's own
    conversion clips them, which turns a 16-bit photo (0..65535) almost entirely white."""
    if image.mode in WIDE_MODES:
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") else float(values.max(initial=0.0))
        scale = next((s for s in (1.0, 255.0, 65535.0) if top <= s), top)
        image = Image.fromarray(np.clip(values * (255.0 / scale), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


class ImageTransform:
    """PIL image -> float tensor (3, size, size). Picklable, so DataLoader workers can use it."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(self.to_array(image))

    def to_array(self, image: Image.Image) -> np.ndarray:
        rgb = to_rgb(image).resize((self.size, self.size), Image.Resampling.BICUBIC)
        arr = (np.asarray(rgb, dtype=np.float32) / 255.0 - MEAN) / STD
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def __repr__(self) -> str:
        return f"ImageTransform(size={self.size}, square bicubic, CLIP mean/std)"
