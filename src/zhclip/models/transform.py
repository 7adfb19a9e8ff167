"""Image preprocessing exactly as Chinese-CLIP: RGB, square bicubic resize (no crop), CLIP mean/std."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..media import to_rgb

if TYPE_CHECKING:
    import torch

MEAN = np.array((0.48145466, 0.4578275, 0.40821073), dtype=np.float32)
STD = np.array((0.26862954, 0.26130258, 0.27577711), dtype=np.float32)


class ImageTransform:
    """PIL image -> float tensor (3, size, size). Picklable, so DataLoader workers can use it."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.to_array(image))

    def to_array(self, image: Image.Image) -> np.ndarray:
        rgb = to_rgb(image).resize((self.size, self.size), Image.Resampling.BICUBIC)
        arr = (np.asarray(rgb, dtype=np.float32) / 255.0 - MEAN) / STD
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def __repr__(self) -> str:
        return f"ImageTransform(size={self.size}, square bicubic, CLIP mean/std)"
