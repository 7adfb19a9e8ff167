"""Step 3 of indexing (and of every query): turn pixels and texts into L2-normalised vectors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models import ClipModel


@dataclass(frozen=True)
class ModelIdentity:
    """What a library records about the model its vectors came from."""

    signature: tuple[float, ...]  # a corner of both projection matrices: tells models apart, in any precision
    source: str
    arch: str
    embed_dim: int

    def as_meta(self) -> dict[str, object]:
        return {
            "model_signature": json.dumps(self.signature),
            "model_source": self.source,
            "model_arch": self.arch,
            "embed_dim": self.embed_dim,
        }

    def matches(self, meta: dict[str, str]) -> bool:
        """Whether a library's recorded model is this one (bf16/int8 copies of the same weights count)."""
        if "model_signature" not in meta:
            return True  # a new library
        stored = json.loads(meta["model_signature"])
        if meta.get("model_arch") != self.arch or len(stored) != len(self.signature):
            return False
        return bool(np.allclose(stored, self.signature, rtol=0.02, atol=2e-3))


def model_identity(model: ClipModel) -> ModelIdentity:
    local = Path(model.source).expanduser()
    source = str(local.absolute()) if local.exists() else model.source  # a hub id stays as it is
    return ModelIdentity(tuple(model.fingerprint), source, model.arch, model.embed_dim)


class Encoder:
    """Batched encoding with one model."""

    def __init__(self, model: ClipModel, batch_size: int = 32):
        self.model = model
        self.batch_size = batch_size
        self.identity = model_identity(model)

    @property
    def to_array(self):
        return self.model.transform.to_array

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, D) float32, in batches of `batch_size`."""
        chunks = [
            self.model.encode_pixels(torch.from_numpy(pixels[i : i + self.batch_size]))
            for i in range(0, len(pixels), self.batch_size)
        ]
        return np.concatenate(chunks)

    def encode_text(self, text: str) -> np.ndarray:
        return self.model.encode_texts([text])[0]

    def encode_image(self, image) -> np.ndarray:
        return self.encode_pixels(self.to_array(image)[None])[0]
