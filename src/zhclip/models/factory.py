"""`load(source)`: a HF dir, a hub id, a zoo name, or a Chinese-CLIP `.pt`/`.pth` -> a ClipModel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, InputError
from .checkpoint import StateDict, native_state_dict, read_checkpoint_file, read_hf_dir, resolve_config
from .config import ClipConfig, arch_config
from .hub import ZOO_HUB_IDS, hub_directory, looks_like_hub_id
from .model import ClipModel
from .network import ClipNetwork
from .precision import apply_precision, resolve_device, resolve_precision
from .tokenizer import Tokenizer

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


@dataclass
class Weights:
    """A checkpoint read into Chinese-CLIP key layout, in its stored dtype."""

    state_dict: StateDict
    config: ClipConfig
    vocab: Path | None
    source: str
    format: str  # "hf" or "cnclip"


def read_weights(source: str | Path, arch: str | ClipConfig | None = None) -> Weights:
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_dir(path, arch)
    if path.exists() or path.suffix in CHECKPOINT_SUFFIXES or str(source).startswith((".", "/", "~")):
        return _read_file(path, arch)
    name = str(source)
    if name in ZOO_HUB_IDS:
        name = ZOO_HUB_IDS[name]
    if looks_like_hub_id(name):
        return _read_dir(hub_directory(name), arch, source=name)
    raise InputError(source, "no such file or directory (nor a hub id like OFA-Sys/chinese-clip-vit-base-patch16)")


def _read_dir(path: Path, arch, source: str | None = None) -> Weights:
    if not (path / "config.json").is_file():
        raise InputError(path, "not a model directory: no config.json (expected a Hugging Face ChineseCLIPModel dir)")
    sd, config = read_hf_dir(path)
    if arch is not None:
        config = resolve_config(sd, arch, path)
    vocab = path / "vocab.txt"
    return Weights(sd, config, vocab if vocab.is_file() else None, source or str(path), "hf")


def _read_file(path: Path, arch) -> Weights:
    raw = read_checkpoint_file(path)
    sd = native_state_dict(raw, path)
    stored = raw.get("zhclip_config") if isinstance(raw, dict) else None
    if arch is None and isinstance(stored, dict):
        arch = ClipConfig.from_dict(stored)
    return Weights(sd, resolve_config(sd, arch, path), None, str(path), "cnclip")


def build_network(
    weights: Weights, dtype: torch.dtype = torch.float32, network_class: type[ClipNetwork] = ClipNetwork
) -> ClipNetwork:
    with torch.device("meta"):
        network = network_class(weights.config)
    try:
        network.load_state_dict(weights.state_dict, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(weights.source, f"weights do not fit the architecture: {exc}") from None
    return network.to(dtype)


def load(
    source: str | Path,
    device: str = "auto",
    precision: str = "fp32",
    arch: str | ClipConfig | None = None,
    context_length: int | None = None,
) -> ClipModel:
    """Load a Chinese-CLIP model from any supported source. See the README for the accepted forms.
    `context_length` overrides the stored one (52 unless the model was trained longer)."""
    from ..compress import onnx_runtime  # a `zhclip export onnx` directory runs on ONNX Runtime

    if onnx_runtime.is_export_dir(source):
        return onnx_runtime.load_export(source, device, precision)
    dev = resolve_device(device)
    weights = read_weights(source, arch)
    weights.config = weights.config.with_context_length(context_length)
    network = build_network(weights)
    prec = resolve_precision(precision, dev, network)
    network = apply_precision(network, prec, dev)
    tokenizer = Tokenizer(weights.vocab, weights.config.context_length)
    return ClipModel(network, tokenizer, dev, prec, weights.source)


def random_model(arch: str | ClipConfig = "tiny", seed: int = 0) -> ClipNetwork:
    """A randomly initialised network (training from scratch, tests, speed work)."""
    config = arch if isinstance(arch, ClipConfig) else arch_config(arch)
    torch.manual_seed(seed)
    network = ClipNetwork(config)
    network.init_weights()
    return network
