"""`ClipModel`: what `zhclip.load` returns — encode images and texts to L2-normalised numpy vectors."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import InputError, NumericsError
from ..media import open_image
from .config import ClipConfig
from .tokenizer import Tokenizer
from .transform import ImageTransform

if TYPE_CHECKING:
    import torch

    from .network import ClipNetwork

ImageLike = Image.Image | str | Path


class Encoder(Protocol):
    """What a ClipModel encodes with: a `ClipNetwork` (PyTorch) or another runtime (e.g. ONNX Runtime).
    Both methods take and return torch tensors and give unnormalised embeddings. An encoder that runs numpy
    arrays natively (ONNX Runtime, OpenVINO) also has `encode_text_array(ids: np.ndarray) -> np.ndarray` and
    `encode_image_array(pixels: np.ndarray) -> np.ndarray`: a ClipModel hands it arrays, so encoding texts or
    pixel arrays on it needs no PyTorch (importing it costs a command a second)."""

    config: ClipConfig

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor: ...

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor: ...


class ClipModel:
    def __init__(
        self,
        network: Encoder,
        tokenizer: Tokenizer,
        device: torch.device,
        precision: str,
        source: str = "",
        paths: dict[str, str] | None = None,
        fingerprint: tuple[float, ...] = (),
    ):
        self.network = network.eval() if is_torch_module(network) else network
        self.tokenizer = tokenizer
        self.transform = ImageTransform(network.config.vision.image_size)
        self.device = device
        self.precision = precision
        self.source = source
        self.paths = paths or {"image": precision, "text": precision}  # tower -> path that runs it
        self.fingerprint = fingerprint  # a few projection weights: tells models apart in any precision

    @property
    def config(self) -> ClipConfig:
        return self.network.config

    @property
    def arch(self) -> str:
        return self.config.name

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def image_size(self) -> int:
        return self.config.vision.image_size

    @property
    def num_params(self) -> int:
        return sum(param_counts(self.config).values())

    @property
    def weight_bytes(self) -> int:
        """Size of the weights as this model holds them (quantized or ONNX files included)."""
        return weight_bytes(self.network)

    def __repr__(self) -> str:
        return (
            f"ClipModel(arch={self.arch!r}, embed_dim={self.embed_dim}, image_size={self.image_size}, "
            f"precision={self.precision!r}, device={str(self.device)!r})"
        )

    # ------------------------------------------------------------ encoding

    def encode_images(self, images: Iterable[ImageLike], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per image (PIL image or path)."""
        images = list(images)
        if not images:
            raise InputError(None, "encode_images got an empty list of images")
        import torch

        bar = tqdm(total=len(images), desc="images", unit="img", disable=not progress)
        out = []
        for chunk in _chunks(images, batch_size):
            pixels = torch.stack([self.transform(_as_image(item)) for item in chunk])
            out.append(self.encode_pixels(pixels))
            bar.update(len(chunk))
        bar.close()
        return np.concatenate(out)

    def encode_texts(self, texts: Sequence[str] | str, batch_size: int = 256) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise InputError(None, "encode_texts got an empty list of texts")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise InputError(None, f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
        chunks = _chunks(texts, batch_size)
        return np.concatenate([self._encode_id_array(self.tokenizer.ids(chunk)) for chunk in chunks])

    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Preprocessed pixel batch (B, 3, S, S) -> normalised embeddings."""
        import torch

        with torch.inference_mode():
            return self._unit_rows(self.network.encode_image(pixels.to(self.device)).float().cpu().numpy(), "image")

    def encode_ids(self, ids: torch.Tensor) -> np.ndarray:
        """Token id batch (B, L) -> normalised embeddings."""
        import torch

        with torch.inference_mode():
            features = self.network.encode_text(trim_padding(ids).to(self.device)).float().cpu().numpy()
        return self._unit_rows(features, "text")

    def encode_pixel_array(self, pixels: np.ndarray) -> np.ndarray:
        """`encode_pixels` of a float32 numpy batch."""
        return self._encode_array("image", pixels)

    def _encode_id_array(self, ids: np.ndarray) -> np.ndarray:
        return self._encode_array("text", ids)

    def _encode_array(self, tower: str, array: np.ndarray) -> np.ndarray:
        """Encodes `array` by the network's array method where it has one, else as a torch tensor."""
        native = getattr(self.network, f"encode_{tower}_array", None)
        if native is None:
            import torch

            encode = self.encode_pixels if tower == "image" else self.encode_ids
            return encode(torch.from_numpy(array))
        array = trim_padding(array) if tower == "text" else array
        return self._unit_rows(native(array).astype(np.float32, copy=False), tower)

    def _unit_rows(self, features: np.ndarray, tower: str) -> np.ndarray:
        """Rows scaled to unit length (as torch's F.normalize: a zero row stays zero); NaN or infinite
        features (a broken runtime path, an fp16 overflow) raise instead of reaching an index or a ranking."""
        if not np.isfinite(features).all():
            raise NumericsError(
                f"the {tower} tower ({self.paths[tower]}, {self.source or 'this model'}) gave NaN or infinite "
                "embeddings; run it with another --precision or --runtime (fp32 is the reference)"
            )
        return features / np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity matrix between two sets of normalised embeddings (rows)."""
        return np.atleast_2d(a) @ np.atleast_2d(b).T


def is_torch_module(obj: object) -> bool:
    """A torch `nn.Module` (without importing torch: an object cannot be one before torch is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def weight_bytes(encoder: Encoder) -> int:
    """Bytes of an encoder's weights as held: a module's saved state dict, or what the runtime reports."""
    if is_torch_module(encoder):
        import torch

        buffer = io.BytesIO()
        torch.save(encoder.state_dict(), buffer)
        return buffer.tell()
    return encoder.weight_bytes


def fingerprint(network: ClipNetwork) -> tuple[float, ...]:
    """The 4x4 corners of both projection matrices: tell models apart, and agree across precisions."""
    corners = [t.detach().float()[:4, :4].flatten().tolist() for t in (network.visual.proj, network.text_projection)]
    return tuple(round(x, 6) for corner in corners for x in corner)


def param_counts(config: ClipConfig) -> dict[str, int]:
    """Parameters per tower, from the architecture (so quantized and ONNX models count like their source)."""
    import torch

    from .network import ClipNetwork

    with torch.device("meta"):
        network = ClipNetwork(config)
    total = sum(p.numel() for p in network.parameters())
    vision = sum(p.numel() for p in network.visual.parameters())
    text = sum(p.numel() for p in network.bert.parameters())
    return {"vision": vision, "text": text, "other": total - vision - text}


def trim_padding(ids: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Drop the all-padding columns at the end: padded keys are masked, so the embeddings do not change.
    (Each row's ids are a prefix, so the columns in use are the first `width`.)"""
    width = int((ids != 0).any(0).sum())
    return ids[:, :width] if width else ids


def _as_image(item: ImageLike) -> Image.Image:
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, str | Path):
        return open_image(item)
    raise InputError(None, f"expected a PIL image or a path, got {type(item).__name__}")


def _chunks(items: list, size: int) -> Iterator[list]:
    if size < 1:
        raise InputError(None, f"batch size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]
