"""Read weights from a HF dir, a hub id, a zoo name, or a Chinese-CLIP `.pt`/`.pth`, and build the network.

`zhclip.load` (in `zhclip.runtime`) puts these weights behind a runtime."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..errors import CheckpointError, InputError
from .checkpoint import StateDict, native_state_dict, read_checkpoint_file, read_hf_dir, resolve_config
from .config import ClipConfig, arch_config
from .hub import ZOO_HUB_IDS, hub_directory, is_modelscope_source, looks_like_hub_id, modelscope_checkpoint
from .network import ClipNetwork

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
    if is_modelscope_source(str(source)):
        checkpoint, vocab, repo_arch = modelscope_checkpoint(str(source))
        return replace(_read_file(checkpoint, arch or repo_arch), vocab=vocab, source=str(source))
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


def random_model(arch: str | ClipConfig = "tiny", seed: int = 0) -> ClipNetwork:
    """A randomly initialised network (training from scratch, tests, speed work)."""
    config = arch if isinstance(arch, ClipConfig) else arch_config(arch)
    torch.manual_seed(seed)
    network = ClipNetwork(config)
    network.init_weights()
    return network
