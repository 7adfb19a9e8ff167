"""Hugging Face hub ids and Chinese-CLIP zoo names -> a local ChineseCLIPModel directory."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelNotAvailableError

ZOO_HUB_IDS = {
    "ViT-B-16": "OFA-Sys/chinese-clip-vit-base-patch16",
    "ViT-L-14": "OFA-Sys/chinese-clip-vit-large-patch14",
    "ViT-L-14-336": "OFA-Sys/chinese-clip-vit-large-patch14-336px",
    "ViT-H-14": "OFA-Sys/chinese-clip-vit-huge-patch14",
}
_SMALL_FILES = ["*.json", "*.txt"]
_WEIGHT_FILES = (["model.safetensors"], ["pytorch_model.bin"])


def looks_like_hub_id(source: str) -> bool:
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not source.startswith((".", "~")) and "\\" not in source


def hub_directory(repo_id: str) -> Path:
    """The local snapshot of a ChineseCLIPModel repo: from the cache, else downloaded."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    if _offline():
        raise _not_available(repo_id, "HF_HUB_OFFLINE is set")
    try:
        for weights in _WEIGHT_FILES:
            directory = Path(snapshot_download(repo_id, allow_patterns=_SMALL_FILES + weights))
            if (directory / weights[0]).is_file():
                return directory
    except Exception as exc:  # huggingface_hub raises many network/HTTP error types
        raise _not_available(repo_id, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None
    raise _not_available(repo_id, "the repository has neither model.safetensors nor pytorch_model.bin")


def _offline() -> bool:
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in (
        "1",
        "true",
        "yes",
        "on",
    )


def _not_available(repo_id: str, why: str) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"{repo_id!r} is not in the local Hugging Face cache and cannot be downloaded ({why}). "
        f"On a machine with internet run `hf download {repo_id} --local-dir DIR`, copy DIR here "
        "and pass DIR instead of the hub id (a Chinese-CLIP .pt checkpoint works too)."
    )
