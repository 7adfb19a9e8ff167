"""How much work a network does: FLOPs of one image and one text, counted on the meta device (no weights)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import ClipConfig
from .network import ClipNetwork


def count_flops(config: ClipConfig, text_length: int | None = None) -> dict[str, int]:
    """FLOPs of one image and one text (of `text_length` tokens, default the context length)."""
    with torch.device("meta"):
        network = ClipNetwork(config)
        size = config.vision.image_size
        pixels = torch.empty(1, 3, size, size)
        ids = torch.ones(1, text_length or config.context_length, dtype=torch.long)
    out = {}
    for tower, run in (("image", lambda: network.encode_image(pixels)), ("text", lambda: network.encode_text(ids))):
        with FlopCounterMode(display=False) as counter:
            run()
        out[tower] = counter.get_total_flops()
    return out
