"""Chinese-CLIP models: architecture configs, the network, formats, tokenizer, preprocessing, encoding.

Names are imported on first use: the config, tokenizer and `ClipModel` modules load without PyTorch, so a text
query on a converted model (ONNX Runtime, OpenVINO) never imports it."""

from __future__ import annotations

from ..lazy import lazy_names

_HOMES = {
    "open_image": "..media",
    "ClipConfig": ".config",
    "TextConfig": ".config",
    "VisionConfig": ".config",
    "arch_config": ".config",
    "known_archs": ".config",
    "convert": ".formats",
    "save_cnclip": ".formats",
    "save_hf": ".formats",
    "Weights": ".factory",
    "build_network": ".factory",
    "random_model": ".factory",
    "read_weights": ".factory",
    "ClipModel": ".model",
    "ClipNetwork": ".network",
    "Tokenizer": ".tokenizer",
    "ImageTransform": ".transform",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
