"""A `cn_clip.clip`-compatible layer, so existing Chinese-CLIP user code runs unchanged.

from zhclip.compat import load_from_name, tokenize
model, preprocess = load_from_name("ViT-B-16", device="cpu", download_root="./weights")
model.load_state_dict(torch.load("team_distill.pth"))
logits_per_image, logits_per_text = model.get_similarity(image, tokenize(["一只猫"]))
"""

from __future__ import annotations

from pathlib import Path

import torch

from .models.checkpoint import native_state_dict
from .models.config import ZOO_ARCHS
from .models.device import resolve_device
from .models.factory import build_network, read_weights
from .models.hub import ZOO_HUB_IDS
from .models.network import ClipNetwork
from .models.tokenizer import Tokenizer
from .models.transform import ImageTransform

# The file names Chinese-CLIP's own downloader stores under `download_root`.
_CNCLIP_FILES = {
    "ViT-B-16": "clip_cn_vit-b-16.pt",
    "ViT-L-14": "clip_cn_vit-l-14.pt",
    "ViT-L-14-336": "clip_cn_vit-l-14-336.pt",
    "ViT-H-14": "clip_cn_vit-h-14.pt",
}


def available_models() -> list[str]:
    return list(ZOO_ARCHS)


_tokenizer: Tokenizer | None = None


def tokenize(texts: str | list[str], context_length: int = 52) -> torch.LongTensor:
    global _tokenizer
    if _tokenizer is None:
        _tokenizer = Tokenizer()
    return _tokenizer(texts, context_length)


def image_transform(image_size: int = 224) -> ImageTransform:
    return ImageTransform(image_size)


class CompatCLIP(ClipNetwork):
    """The network with Chinese-CLIP's method names; `load_state_dict` takes any Chinese-CLIP checkpoint form."""

    def get_similarity(self, image: torch.Tensor, text: torch.Tensor):
        image_features, text_features, scale = self(image, text)
        logits_per_image = scale * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return super().load_state_dict(native_state_dict(state_dict, Path("<state_dict>")), strict, assign)


def load_from_name(
    name: str,
    device: str | torch.device = "auto",
    download_root: str | None = None,
    vision_model_name: str | None = None,
    text_model_name: str | None = None,
    input_resolution: int | None = None,
) -> tuple[CompatCLIP, ImageTransform]:
    """`name`: a zoo name (weights from `download_root`, else the HF hub), a checkpoint path, or a HF dir."""
    dev = resolve_device(str(device))
    source = _locate(name, download_root)
    arch = vision_model_name if vision_model_name in ZOO_ARCHS else None
    weights = read_weights(source, arch)
    model = build_network(weights, network_class=CompatCLIP).to(dev).eval()
    return model, image_transform(input_resolution or weights.config.vision.image_size)


def _locate(name: str, download_root: str | None) -> str:
    if name not in _CNCLIP_FILES:
        return name
    local = Path(download_root or "~/.cache/clip").expanduser() / _CNCLIP_FILES[name]
    return str(local) if local.is_file() else ZOO_HUB_IDS[name]
