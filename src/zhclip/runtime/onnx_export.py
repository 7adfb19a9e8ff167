"""`zhclip export onnx`: the image and text towers as separate ONNX files with a dynamic batch axis
(and a dynamic sequence axis for text), in fp32, fp16 (converted with ONNX Runtime's float16 tool,
fp32 inputs/outputs kept) and INT8 (ONNX Runtime dynamic quantization)."""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..extras import require
from ..io import atomic_path, write_json
from ..models.factory import build_network, read_weights
from ..models.model import fingerprint, param_counts
from ..models.network import ClipNetwork
from ..models.tokenizer import BUNDLED_VOCAB
from .onnx import MANIFEST, ONNX_PRECISIONS, TOWERS, tower_file

OPSET = 18
EXAMPLE_IDS = [[101, 2769, 4263, 1921, 102, 0], [101, 2769, 4263, 1921, 3173, 102]]


class Tower(nn.Module):
    """One tower of a ClipNetwork as a module with a single tensor input (what the exporter traces)."""

    def __init__(self, network: ClipNetwork, tower: str):
        super().__init__()
        self.network = network
        self.tower = tower

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.encode_image(x) if self.tower == "image" else self.network.encode_text(x)


def export_onnx(
    source: str | Path, out_dir: str | Path, precisions: Sequence[str] = ONNX_PRECISIONS, arch: str | None = None
) -> Path:
    """Export `source` (anything `zhclip.load` reads) to `out_dir`; `zhclip.load(out_dir)` runs it."""
    require("onnx")
    unknown = [p for p in precisions if p not in ONNX_PRECISIONS]
    if unknown or not precisions:
        raise InputError(
            None,
            f"unknown ONNX precision {unknown[0] if unknown else '(none)'!r}; use {', '.join(ONNX_PRECISIONS)}",
            field="--precision",
        )
    weights = read_weights(source, arch)
    return export_network(build_network(weights).eval(), out_dir, precisions, weights.source, weights.vocab)


def export_network(
    network: ClipNetwork, out_dir: str | Path, precisions: Sequence[str], source: str, vocab: Path | None = None
) -> Path:
    """Write the towers of `network` in `precisions` with their manifest and vocabulary to `out_dir`."""
    with atomic_path(out_dir, directory=True) as tmp:
        for tower in TOWERS:
            export_tower(network, tower, tmp / tower_file(tower, "fp32"))
            for precision in precisions:
                if precision != "fp32":
                    CONVERTERS[precision](tmp / tower_file(tower, "fp32"), tmp / tower_file(tower, precision))
            if "fp32" not in precisions:
                for leftover in tmp.glob(tower_file(tower, "fp32") + "*"):
                    leftover.unlink()
        shutil.copyfile(vocab or BUNDLED_VOCAB, tmp / "vocab.txt")
        write_json(tmp / MANIFEST, _manifest(network, precisions, source))
    return Path(out_dir)


def _manifest(network: ClipNetwork, precisions: Sequence[str], source: str) -> dict:
    config = network.config
    return {
        "format": "zhclip-onnx",
        "version": 1,
        "source": source,
        "opset": OPSET,
        "config": config.to_dict(),
        "parameters": sum(param_counts(config).values()),
        "logit_scale": float(network.logit_scale.detach()),
        "files": {p: {tower: tower_file(tower, p) for tower in TOWERS} for p in ONNX_PRECISIONS if p in precisions},
        "vocab": "vocab.txt",
        "fingerprint": list(fingerprint(network)),
    }


def export_tower(network: ClipNetwork, tower: str, out: Path) -> None:
    """fp32 ONNX of one tower; batch (and text length) are dynamic axes."""
    if tower == "image":
        size = network.config.vision.image_size
        example, name, axes = torch.randn(2, 3, size, size), "pixels", {0: torch.export.Dim("batch")}
    else:
        example, name = torch.tensor(EXAMPLE_IDS), "ids"
        axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("length", max=network.config.text.max_positions)}
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            Tower(network, tower).eval(),
            (example,),
            str(out),
            input_names=[name],
            output_names=["features"],
            dynamic_shapes={"x": axes},
            opset_version=OPSET,
            dynamo=True,
            optimize=True,
            verbose=False,
            external_data=_needs_external_data(network, tower),
        )


def _needs_external_data(network: ClipNetwork, tower: str) -> bool:
    """A protobuf file holds at most 2 GB; bigger towers (ViT-H's image tower) keep weights in `NAME.data`."""
    module = network.visual if tower == "image" else network.bert
    return sum(p.numel() * p.element_size() for p in module.parameters()) > 1.8e9


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and quantizer's advice (missing torchvision ops, pre-processing hints)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "root")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def to_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))


def to_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


CONVERTERS = {"fp16": to_fp16, "int8": to_int8}
