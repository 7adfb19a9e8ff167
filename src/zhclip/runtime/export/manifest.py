"""`manifest.json` of a mobile export: everything an app needs to feed the towers and read their output
without zhclip, plus where the files came from and how close they came to fp32 when they were written."""

from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from ... import __version__
from ...models.network import ClipNetwork
from ...models.transform import MEAN, STD
from .base import OUTPUT_NAME, Target, TowerSpec

MANIFEST = "manifest.json"
FORMAT = "zhclip-mobile"
VOCAB = "vocab.txt"


def weights_digest(network: ClipNetwork) -> str:
    """sha256 over the fp32 weights by name, so the same weights give the same digest from any file format."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's files by relative path (a Core ML `.mlpackage` is a directory)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def tower_entry(target: Target, spec: TowerSpec, path: Path, fidelity: dict) -> dict:
    batch = {"dynamic": False, "size": spec.batch} if spec.batch else {"dynamic": True, "max": target.batch_limit}
    return {
        "file": path.name,
        "sha256": file_digest(path),
        "bytes": size_bytes(path),
        "runtime": target.name,
        "inputs": [{"name": spec.input_name, "shape": spec.shape, "dtype": spec.dtype}],
        "outputs": [{"name": OUTPUT_NAME, "shape": [spec.batch, spec.config.embed_dim], "dtype": "float32"}],
        "batch": batch,
        "fidelity": fidelity,
    }


def build_manifest(target: Target, network: ClipNetwork, precision: str, towers: dict, source: str) -> dict:
    config = network.config
    return {
        "format": FORMAT,
        "version": 1,
        "runtime": {"name": target.name, "package": target.package, "package_version": _version(target.package)},
        "precision": precision,
        "towers": towers,
        "image_preprocessing": {
            "size": config.vision.image_size,
            "resize": "convert to RGB, resize the whole image to size x size with bicubic filtering (no crop)",
            "scale": "pixel / 255",
            "mean": [float(m) for m in MEAN],
            "std": [float(s) for s in STD],
            "layout": "NCHW, channels R, G, B",
        },
        "tokenizer": {
            "kind": "bert-wordpiece",
            "vocab": VOCAB,
            "lowercase": True,
            "split_chinese_characters": True,
            "context_length": config.context_length,
            "pad_id": 0,
            "layout": "[CLS] + up to context_length - 2 word pieces + [SEP], then pad_id up to context_length",
        },
        "output": {
            "embedding_dim": config.embed_dim,
            "l2_normalised": False,
            "use": "divide each row by its L2 norm; image-text similarity is then the dot product",
        },
        "source": {"model": source, "arch": config.name, "weights_sha256": weights_digest(network)},
        "zhclip_version": __version__,
        "logit_scale": float(network.logit_scale.detach().exp()),
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
