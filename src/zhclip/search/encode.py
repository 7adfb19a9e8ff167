"""Step 3 of indexing (and of every query): turn pixels and texts into L2-normalised vectors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models import ClipModel


@dataclass(frozen=True)
class ModelIdentity:
    """What a library records about the model its vectors came from."""

    fingerprint: str  # a hash of the projection weights: the same weights give the same fingerprint
    source: str
    arch: str
    embed_dim: int

    def as_meta(self) -> dict[str, object]:
        return {"model_fingerprint": self.fingerprint, "model_source": self.source, "model_arch": self.arch,
                "embed_dim": self.embed_dim}


def model_identity(model: ClipModel) -> ModelIdentity:
    digest = hashlib.sha256()
    for tensor in (model.network.visual.proj, model.network.text_projection):
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    local = Path(model.source).expanduser()
    source = str(local.absolute()) if local.exists() else model.source  # a hub id stays as it is
    return ModelIdentity(digest.hexdigest()[:16], source, model.arch, model.embed_dim)


class Encoder:
    """Batched encoding with one model. Text ids are trimmed to the longest text in the batch: padding is
    masked out anyway, so the vectors are the same and short queries run several times faster."""

    def __init__(self, model: ClipModel, batch_size: int = 32):
        self.model = model
        self.batch_size = batch_size
        self.identity = model_identity(model)

    @property
    def to_array(self):
        return self.model.transform.to_array

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, D) float32, in batches of `batch_size`."""
        chunks = [self.model.encode_pixels(torch.from_numpy(pixels[i:i + self.batch_size]))
                  for i in range(0, len(pixels), self.batch_size)]
        return np.concatenate(chunks)

    def encode_text(self, text: str) -> np.ndarray:
        ids = self.model.tokenizer([text])
        length = int((ids != 0).sum(dim=1).max())
        return self.model.encode_ids(ids[:, :max(length, 1)])[0]

    def encode_image(self, image) -> np.ndarray:
        return self.encode_pixels(self.to_array(image)[None])[0]
