"""Hugging Face hub ids and Chinese-CLIP zoo names -> a local ChineseCLIPModel directory."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelNotAvailableError

ZOO_HUB_IDS = {
    "ViT-B-16": "OFA-Sys/chinese-clip-vit-base-patch16",
    "ViT-L-14": "OFA-Sys/chinese-clip-vit-large-patch14",
    "ViT-L-14-336": "OFA-Sys/chinese-clip-vit-large-patch14-336px",
    "ViT-H-14": "OFA-Sys/chinese-clip-vit-huge-patch14",
}
_PATTERNS = ["config.json", "preprocessor_config.json", "*.txt", "tokenizer*", "special_tokens_map.json"]


def looks_like_hub_id(source: str) -> bool:
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not source.startswith((".", "~")) and "\\" not in source


def hub_directory(repo_id: str) -> Path:
    """Download (or find in the local cache) the files of a ChineseCLIPModel repo."""
    from huggingface_hub import list_repo_files, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        try:
            files = list_repo_files(repo_id)
            weights = ["model.safetensors"] if "model.safetensors" in files else ["pytorch_model.bin"]
            return Path(snapshot_download(repo_id, allow_patterns=_PATTERNS + weights))
        except (LocalEntryNotFoundError, OSError, HfHubHTTPError) as exc:
            if isinstance(exc, RepositoryNotFoundError):
                raise
            return Path(snapshot_download(repo_id, local_files_only=True))
    except RepositoryNotFoundError:
        raise ModelNotAvailableError(f"{repo_id!r} is not a model repository on the Hugging Face hub") from None
    except (LocalEntryNotFoundError, OSError, HfHubHTTPError):
        raise ModelNotAvailableError(
            f"{repo_id!r} is not in the local Hugging Face cache and the hub cannot be reached (offline?). "
            f"On a machine with internet run `hf download {repo_id} --local-dir DIR`, copy DIR here "
            "and pass DIR instead of the hub id (or pass a Chinese-CLIP .pt checkpoint)."
        ) from None
