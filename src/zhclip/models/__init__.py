"""Chinese-CLIP models: architecture configs, the network, formats, tokenizer, preprocessing, encoding."""

from ..media import open_image
from .config import ClipConfig, TextConfig, VisionConfig, arch_config, known_archs
from .convert import convert, save_cnclip, save_hf
from .factory import Weights, build_network, random_model, read_weights
from .model import ClipModel
from .network import ClipNetwork
from .tokenizer import Tokenizer
from .transform import ImageTransform

__all__ = [
    "ClipConfig",
    "ClipModel",
    "ClipNetwork",
    "ImageTransform",
    "TextConfig",
    "Tokenizer",
    "VisionConfig",
    "Weights",
    "arch_config",
    "build_network",
    "convert",
    "known_archs",
    "open_image",
    "random_model",
    "read_weights",
    "save_cnclip",
    "save_hf",
]
