"""What every runtime offers the loader: the precisions it can run, and an `Encoder` in one of them."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from ..models.config import ClipConfig
from ..models.model import ClipModel, Encoder, is_torch_module, weight_bytes
from ..models.precision import check_precision
from ..models.tokenizer import Tokenizer
from .plans import TOWERS

if TYPE_CHECKING:
    import numpy as np
    import torch

DISTRIBUTIONS = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
PRECISION_PACKAGES = {"openvino": "nncf"}  # a runtime's precisions that another package brings (int8)


def runtime_name(kind: str) -> str:
    """`kind=version` (with the version of the package that adds precisions to it, or `-` without it): part of
    the `auto` measurement's key, so installing that package measures again (read from package metadata,
    without importing anything)."""
    name = f"{kind}={importlib.metadata.version(DISTRIBUTIONS[kind])}"
    if kind in PRECISION_PACKAGES:
        name += f"/{PRECISION_PACKAGES[kind]}={_version_or_dash(PRECISION_PACKAGES[kind])}"
    return name


def _version_or_dash(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "-"


class Runtime(Protocol):
    """One way of running a model's towers (PyTorch, ONNX Runtime, OpenVINO), opened on one device."""

    kind: str  # "torch", "onnxruntime", "openvino": with a precision it names a path ("openvino-int8")
    name: str  # the kind with its library version: part of the `auto` measurement's cache key
    where: str  # how error messages name it: "on cpu", "by the ONNX export DIR"
    config: ClipConfig
    device: torch.device
    tokenizer: Tokenizer
    source: str
    fingerprint: tuple[float, ...]  # a few projection weights (empty if the runtime has none to show)

    def precisions(self) -> list[str]: ...

    def encoder(self, precision: str) -> Encoder:
        """The encoder in `precision`; the runtime may hand over its own weights (call once, last)."""
        ...

    def trial_encoder(self, precision: str) -> Encoder:
        """An encoder in `precision` that leaves the runtime usable (for measuring candidates)."""
        ...


class SplitEncoder:
    """Image and text towers from two different paths (e.g. OpenVINO int8 images, ONNX Runtime int8 texts)."""

    def __init__(self, image: Encoder, text: Encoder):
        self.image, self.text = image, text
        self.config = image.config
        self.logit_scale = text.logit_scale
        for part in (image, text):
            if is_torch_module(part):
                part.eval()

    @property
    def weight_bytes(self) -> int:
        return weight_bytes(self.image) + weight_bytes(self.text)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.image.encode_image(pixels.to(encoder_device(self.image)))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text.encode_text(ids.to(encoder_device(self.text)))

    @property
    def encode_text_array(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The text tower's array method, where it has one (see `Encoder`)."""
        return getattr(self.text, "encode_text_array", None)

    @property
    def encode_image_array(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The image tower's array method, where it has one (see `Encoder`)."""
        return getattr(self.image, "encode_image_array", None)


def open_model(runtime: Runtime, precision: str) -> ClipModel:
    """A ClipModel over `runtime` in a concrete `precision`."""
    check_precision(precision, runtime.precisions(), runtime.where)
    path = f"{runtime.kind}-{precision}"
    return _model(runtime, runtime.encoder(precision), precision, {tower: path for tower in TOWERS})


def open_plan(runtimes: Sequence[Runtime], plan: dict[str, str]) -> ClipModel:
    """A ClipModel whose towers run on the paths `plan` names (`{"image": "openvino-int8", "text": ...}`)."""
    paths = {f"{rt.kind}-{p}": (rt, p) for rt in runtimes for p in rt.precisions()}
    (image_rt, image_p), (text_rt, text_p) = paths[plan["image"]], paths[plan["text"]]
    if plan["image"] == plan["text"]:
        return _model(image_rt, image_rt.encoder(image_p), image_p, plan)
    image = image_rt.trial_encoder(image_p) if image_rt is text_rt else image_rt.encoder(image_p)
    encoder = SplitEncoder(image, text_rt.encoder(text_p))
    precision = image_p if image_p == text_p else "mixed"
    return _model(runtimes[0], encoder, precision, plan)


def _model(runtime: Runtime, encoder: Encoder, precision: str, paths: dict[str, str]) -> ClipModel:
    return ClipModel(encoder, runtime.tokenizer, runtime.device, precision, runtime.source, paths, runtime.fingerprint)


def encoder_device(encoder: Encoder) -> torch.device | str:
    """Where a PyTorch encoder's weights are; "cpu" for other runtimes (they take CPU tensors or move them)."""
    if is_torch_module(encoder):
        import torch

        return next(encoder.parameters(), torch.empty(0)).device
    return "cpu"
