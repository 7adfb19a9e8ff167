"""Architectures as data: JSON files in `configs/` become these dataclasses."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from importlib import resources

from ..errors import InputError, ModelNotAvailableError

CONTEXT_LENGTH = 52


@dataclass
class VisionConfig:
    image_size: int = 224
    patch_size: int = 16
    width: int = 768
    layers: int = 12
    head_width: int = 64
    mlp_ratio: float = 4.0
    # Per-layer overrides, set by structured pruning; None means uniform.
    layer_heads: list[int] | None = None
    layer_mlp_dims: list[int] | None = None

    def heads(self, layer: int) -> int:
        return self.layer_heads[layer] if self.layer_heads else self.width // self.head_width

    def mlp_dim(self, layer: int) -> int:
        return self.layer_mlp_dims[layer] if self.layer_mlp_dims else int(self.width * self.mlp_ratio)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass
class TextConfig:
    vocab_size: int = 21128
    hidden_size: int = 768
    layers: int = 12
    heads: int = 12
    intermediate_size: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    layer_heads: list[int] | None = None
    layer_mlp_dims: list[int] | None = None

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.heads

    def heads_at(self, layer: int) -> int:
        return self.layer_heads[layer] if self.layer_heads else self.heads

    def mlp_dim(self, layer: int) -> int:
        return self.layer_mlp_dims[layer] if self.layer_mlp_dims else self.intermediate_size


@dataclass
class ClipConfig:
    embed_dim: int = 512
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    name: str = "custom"
    context_length: int = CONTEXT_LENGTH

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ClipConfig:
        return cls(
            embed_dim=data["embed_dim"],
            vision=VisionConfig(**data["vision"]),
            text=TextConfig(**data["text"]),
            name=data.get("name", "custom"),
            context_length=data.get("context_length", CONTEXT_LENGTH),
        )

    def with_context_length(self, length: int | None) -> ClipConfig:
        """This architecture reading texts of `length` tokens (None: unchanged), at most the position table."""
        if length is None:
            return self
        limit = self.text.max_positions
        if not 3 <= length <= limit:
            raise InputError(
                None,
                f"context length {length} is outside 3..{limit} (the text tower's position table has {limit} entries)",
                field="--context-length",
            )
        return replace(self, context_length=length)

    def same_shapes(self, other: ClipConfig) -> bool:
        mine, theirs = self.to_dict(), other.to_dict()
        for d in (mine, theirs):
            d.pop("name")
            d.pop("context_length")
        return mine == theirs


# Names of Chinese-CLIP's `available_models()` that this package can build, plus CPU presets.
ZOO_ARCHS = ("ViT-B-16", "ViT-L-14", "ViT-L-14-336", "ViT-H-14")
PRESET_ARCHS = ("ViT-B-32", "small", "tiny")


def known_archs() -> list[str]:
    return [*ZOO_ARCHS, *PRESET_ARCHS]


def arch_config(name: str) -> ClipConfig:
    if name == "RN50":
        raise ModelNotAvailableError(
            "RN50 (ResNet-50 image tower) is not supported by zhclip yet; use a ViT architecture"
        )
    path = resources.files("zhclip.models") / "configs" / f"{name}.json"
    if not path.is_file():
        raise ModelNotAvailableError(f"unknown architecture {name!r}; known: {', '.join(known_archs())}")
    data = json.loads(path.read_text())
    data["name"] = name
    return ClipConfig.from_dict(data)


def name_for(config: ClipConfig) -> str:
    """The zoo/preset name whose shapes equal `config`, else 'custom'."""
    for name in known_archs():
        if arch_config(name).same_shapes(config):
            return name
    return "custom"
