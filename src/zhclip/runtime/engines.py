"""What a TensorRT engine is built for, shared by ONNX Runtime's TensorRT provider (`cuda`) and TensorRT's own
engines (`tensorrt`): the cache key (weights, GPU model, compute capability, driver, TensorRT version and
precision: an engine runs only where it was built), and the input shapes each tower's engine takes."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from ..models.config import ClipConfig
from . import cache
from .gpu import GpuInfo
from .onnx import INPUT_NAMES

ENGINE_PRECISIONS = ["fp16"]
# The shapes TensorRT builds for (min, opt, max): a batch of images as the indexer sends them; one short query,
# up to the batches `ClipModel.encode_texts` sends. Larger batches are cut into pieces of the max.
IMAGE_BATCHES = (1, 32, 64)
TEXT_BATCHES = (1, 1, 256)
QUERY_TOKENS = 16


def engine_key(weights_key: str, gpu: GpuInfo, tensorrt_version: str, precision: str) -> str:
    """The cache key of TensorRT engines: an engine runs only on the GPU model, driver and TensorRT version it
    was built with, so each of them is part of the key."""
    return f"{weights_key}/{gpu.key}-trt{tensorrt_version}-{precision}"


def tensorrt_version() -> str:
    """The installed TensorRT's version, from package metadata (no import): `-` where it is missing."""
    versions = (distribution_version(d) for d in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13"))
    return next((v for v in versions if v != "-"), "-")


def distribution_version(distribution: str) -> str:
    """An installed distribution's version, or `-`."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def engine_folder(kind: str, weights_key: str, gpu: GpuInfo, precision: str) -> Path:
    return cache.cache_root() / "conversions" / kind / engine_key(weights_key, gpu, tensorrt_version(), precision)


def tower_shapes(tower: str, config: ClipConfig) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) input shapes TensorRT builds a tower for."""
    if tower == "image":
        size = config.vision.image_size
        return tuple((batch, 3, size, size) for batch in IMAGE_BATCHES)
    tokens = (1, min(QUERY_TOKENS, config.context_length), config.context_length)
    return tuple(zip(TEXT_BATCHES, tokens, strict=True))


def profile_options(tower: str, config: ClipConfig) -> dict[str, str]:
    """ONNX Runtime's TensorRT provider options for `tower`'s shape profile."""
    names = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")
    shapes = tower_shapes(tower, config)
    return {name: f"{INPUT_NAMES[tower]}:{'x'.join(map(str, s))}" for name, s in zip(names, shapes, strict=True)}
