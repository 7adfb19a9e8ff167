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
    network = model.network
    try:
        corners = [
            t.detach().float()[:4, :4].flatten().tolist() for t in (network.visual.proj, network.text_projection)
        ]
    except AttributeError:  # a runtime without PyTorch weights (ONNX): the architecture must do
        corners = []
    local = Path(model.source).expanduser()
    source = str(local.absolute()) if local.exists() else model.source  # a hub id stays as it is
    signature = tuple(round(x, 6) for corner in corners for x in corner)
    return ModelIdentity(signature, source, model.arch, model.embed_dim)


class Encoder:
    """Batched encoding with one model. On CUDA, batches go through one reusable page-locked buffer in the
    model's half precision and are copied to the GPU without blocking (`staged`; it runs on CPU too)."""

    def __init__(self, model: ClipModel, batch_size: int = 32, staged: bool | None = None):
        self.model = model
        self.batch_size = batch_size
        self.identity = model_identity(model)
        self.device = torch.device(getattr(model, "device", "cpu"))
        self.staged = self.device.type == "cuda" if staged is None else staged
        self.pixel_dtype = _pixel_dtype(model, self.device)
        self._buffer: torch.Tensor | None = None

    @property
    def to_array(self):
        to_array = self.model.transform.to_array
        return to_array if self.pixel_dtype == np.float32 else AsDtype(to_array, self.pixel_dtype)

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, D) float32, in batches of `batch_size`."""
        chunks = [
            self.model.encode_pixels(self._batch(pixels[i : i + self.batch_size]))
            for i in range(0, len(pixels), self.batch_size)
        ]
        return np.concatenate(chunks)

    def _batch(self, pixels: np.ndarray) -> torch.Tensor:
        if not self.staged:
            return torch.from_numpy(pixels)
        if self._buffer is None or self._buffer.shape[1:] != pixels.shape[1:]:
            shape = (self.batch_size, *pixels.shape[1:])
            dtype = torch.from_numpy(np.empty(0, self.pixel_dtype)).dtype
            self._buffer = torch.empty(shape, dtype=dtype, pin_memory=torch.cuda.is_available())
        batch = self._buffer[: len(pixels)]
        batch.copy_(torch.from_numpy(pixels))
        # The copy may still run when this returns; the buffer is refilled only after the model has returned
        # this batch's vectors to the CPU, which waits for it.
        return batch.to(self.device, non_blocking=True)

    def encode_text(self, text: str) -> np.ndarray:
        return self.model.encode_texts([text])[0]

    def encode_image(self, image) -> np.ndarray:
        return self.encode_pixels(self.to_array(image)[None])[0]


def _pixel_dtype(model: ClipModel, device: torch.device) -> np.dtype:
    """float16 for a half-precision model on CUDA (half the bytes to decode, pin and copy), else float32."""
    network_dtype = getattr(getattr(model, "network", None), "dtype", torch.float32)
    half = device.type == "cuda" and network_dtype in (torch.float16, torch.bfloat16)
    return np.dtype(np.float16 if half else np.float32)


class AsDtype:
    """`to_array` whose arrays are cast to `dtype`. A class, so that worker processes can receive it."""

    def __init__(self, to_array, dtype: np.dtype):
        self.to_array = to_array
        self.dtype = np.dtype(dtype)

    def __call__(self, image) -> np.ndarray:
        return self.to_array(image).astype(self.dtype, copy=False)
