"""What every runtime offers the loader: the precisions it can run, and an `Encoder` in one of them."""

from __future__ import annotations

from typing import Protocol

import torch

from ..models.config import ClipConfig
from ..models.model import ClipModel, Encoder
from ..models.precision import check_precision
from ..models.tokenizer import Tokenizer


class Runtime(Protocol):
    """One way of running a model's towers (PyTorch, ONNX Runtime, ...), opened on one device."""

    name: str  # with the library version where it matters: part of the `auto` measurement's cache key
    where: str  # how error messages name it: "on cpu", "by the ONNX export DIR"
    config: ClipConfig
    device: torch.device
    tokenizer: Tokenizer
    source: str

    def precisions(self) -> list[str]: ...

    def encoder(self, precision: str) -> Encoder:
        """The encoder in `precision`; the runtime may hand over its own weights (call once, last)."""
        ...

    def trial_encoder(self, precision: str) -> Encoder:
        """An encoder in `precision` that leaves the runtime usable (for measuring candidates)."""
        ...


class ChoosePrecision(Protocol):
    def __call__(self, runtime: Runtime) -> str: ...


def open_model(runtime: Runtime, precision: str, choose: ChoosePrecision) -> ClipModel:
    """A ClipModel over `runtime` in `precision`; `choose` turns `auto` into a concrete precision."""
    check_precision(precision, runtime.precisions(), runtime.where)
    if precision == "auto":
        precision = choose(runtime)
    return ClipModel(runtime.encoder(precision), runtime.tokenizer, runtime.device, precision, runtime.source)
