"""Step 3 of indexing (and of every query): turn pixels and texts into L2-normalised vectors.

`MediaEncoder` is the only way search code reaches a model, and each of its model calls runs on the compute
thread (see `compute`), whoever calls it: the indexer, a server's rescan thread, or a query.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..models import ClipModel
from ..runtime import load as load_model
from .compute import on_compute_thread
from .decode import DecodeOptions, decode_image
from .meta import ModelIdentity


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


class MediaEncoder:
    """Batched encoding of library media and queries with one model, always on the compute thread."""

    def __init__(self, model: ClipModel, batch_size: int = 32):
        self._model = model
        self.batch_size = batch_size
        self.identity = model_identity(model)
        self.image_size = model.image_size

    @classmethod
    def load(cls, source: str | Path, device: str = "auto", precision: str = "auto", batch_size: int = 32):
        """Load `source` (on the compute thread: the model's first use sets up its threads there)."""
        return on_compute_thread(lambda: cls(load_model(source, device=device, precision=precision), batch_size))

    @property
    def to_array(self):
        """PIL image -> (3, S, S) float32 pixels: the model's preprocessing, run by the decoding threads."""
        return self._model.transform.to_array

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, D) float32, in batches of `batch_size`."""
        return on_compute_thread(self._encode_pixels, pixels)

    def encode_text(self, text: str) -> np.ndarray:
        return on_compute_thread(lambda: self._model.encode_texts([text])[0])

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32, in batches."""
        return on_compute_thread(self._model.encode_texts, texts)

    def encode_image(self, image) -> np.ndarray:
        return self.encode_pixels(self.to_array(image)[None])[0]

    def encode_image_bytes(self, data: bytes, name: str) -> np.ndarray:
        """An image given as bytes (upload, paste) -> its vector; pixel limits as for indexing."""
        _, pixels = decode_image(io.BytesIO(data), self.to_array, DecodeOptions(self.image_size, min_side=1), name)
        return self.encode_pixels(pixels[None])[0]

    def encode_image_file(self, path: str | Path) -> np.ndarray:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(path, f"cannot read image: {exc.strerror or exc}") from None
        return self.encode_image_bytes(data, str(path))

    def _encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        chunks = [
            self._model.encode_pixels(torch.from_numpy(pixels[i : i + self.batch_size]))
            for i in range(0, len(pixels), self.batch_size)
        ]
        return np.concatenate(chunks)
