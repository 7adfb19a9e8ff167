"""Model sources -> local files: Hugging Face hub ids and Chinese-CLIP zoo names -> a ChineseCLIPModel directory
(through `HF_ENDPOINT` where it is set, e.g. a mirror); `modelscope:<id>` -> a ModelScope Chinese-CLIP directory
(the `modelscope` extra's download).

A ModelScope Chinese-CLIP repository (`damo/multi-modal_clip-*_zh`, also published as `iic/...`) holds the
original Chinese-CLIP checkpoint as `pytorch_model.bin`, `vocab.txt`, `vision_model_config.json`,
`text_model_config.json` and ModelScope's `configuration.json`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelNotAvailableError
from ..extras import require

ZOO_HUB_IDS = {
    "ViT-B-16": "OFA-Sys/chinese-clip-vit-base-patch16",
    "ViT-L-14": "OFA-Sys/chinese-clip-vit-large-patch14",
    "ViT-L-14-336": "OFA-Sys/chinese-clip-vit-large-patch14-336px",
    "ViT-H-14": "OFA-Sys/chinese-clip-vit-huge-patch14",
}
MODELSCOPE_PREFIX = "modelscope:"
MODELSCOPE_WEIGHTS = "pytorch_model.bin"
MODELSCOPE_ARCHS = {  # the Chinese-CLIP repositories on ModelScope -> zhclip architecture
    f"{org}/multi-modal_clip-{name}_zh": arch
    for org in ("damo", "iic")
    for name, arch in (
        ("vit-base-patch16", "ViT-B-16"),
        ("vit-large-patch14", "ViT-L-14"),
        ("vit-large-patch14_336", "ViT-L-14-336"),
        ("vit-huge-patch14", "ViT-H-14"),
    )
}
_MODELSCOPE_FILES = [MODELSCOPE_WEIGHTS, "vocab.txt", "*.json"]
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
    if hub_offline():
        raise _not_available(repo_id, "HF_HUB_OFFLINE is set")
    try:
        for weights in _WEIGHT_FILES:
            directory = Path(snapshot_download(repo_id, allow_patterns=_SMALL_FILES + weights))
            if (directory / weights[0]).is_file():
                return directory
    except Exception as exc:  # huggingface_hub raises many network/HTTP error types
        raise _not_available(repo_id, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None
    raise _not_available(repo_id, "the repository has neither model.safetensors nor pytorch_model.bin")


def hub_offline() -> bool:
    """Whether Hugging Face downloads are turned off (HF_HUB_OFFLINE, also when set after the hub was imported)."""
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in (
        "1",
        "true",
        "yes",
        "on",
    )


def _not_available(repo_id: str, why: str) -> ModelNotAvailableError:
    from huggingface_hub import constants

    return ModelNotAvailableError(
        f"{repo_id!r} is not in the local Hugging Face cache and cannot be downloaded from {constants.ENDPOINT} "
        f"({why}). Where that hub is unreachable, set HF_ENDPOINT to a mirror (e.g. https://hf-mirror.com) or load "
        "'modelscope:<id>' (pip install 'zhclip[modelscope]'). "
        f"On a machine with internet run `hf download {repo_id} --local-dir DIR`, copy DIR here "
        "and pass DIR instead of the hub id (a Chinese-CLIP .pt checkpoint works too)."
    )


def is_modelscope_source(source: str) -> bool:
    return source.startswith(MODELSCOPE_PREFIX)


def modelscope_checkpoint(source: str) -> tuple[Path, Path | None, str | None]:
    """`modelscope:<id>` -> its Chinese-CLIP checkpoint and vocab (from ModelScope's cache, else downloaded) and
    its architecture (None for a repository not in `MODELSCOPE_ARCHS`: inferred from the weights' shapes)."""
    model_id = source.removeprefix(MODELSCOPE_PREFIX)
    if not looks_like_hub_id(model_id):
        raise ModelNotAvailableError(f"{source!r}: expected modelscope:<owner>/<name>, e.g. {_example()}")
    directory = modelscope_snapshot(source, _MODELSCOPE_FILES, lambda why: _modelscope_error(model_id, why))
    if not (directory / MODELSCOPE_WEIGHTS).is_file():
        raise _modelscope_error(model_id, f"{directory} has no {MODELSCOPE_WEIGHTS} (not a Chinese-CLIP repository?)")
    vocab = directory / "vocab.txt"
    return directory / MODELSCOPE_WEIGHTS, vocab if vocab.is_file() else None, MODELSCOPE_ARCHS.get(model_id)


def modelscope_snapshot(source: str, patterns: list[str], error: Callable[[str], Exception]) -> Path:
    """The local snapshot of `modelscope:<id>` (its files matching `patterns`): from ModelScope's cache, else
    downloaded; `error(why)` is raised where it cannot be had (the `modelscope` extra is needed)."""
    model_id = source.removeprefix(MODELSCOPE_PREFIX)
    if not looks_like_hub_id(model_id):
        raise error(f"expected modelscope:<owner>/<name>, got {source!r}")
    require("modelscope")
    from modelscope.hub.snapshot_download import snapshot_download

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # modelscope raises its own error types for a missing cache entry
        pass
    if hub_offline():
        raise error("not in the local ModelScope cache and HF_HUB_OFFLINE is set")
    try:
        return Path(snapshot_download(model_id, allow_file_pattern=patterns))
    except Exception as exc:  # network and HTTP errors of many types
        raise error(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None


def _modelscope_error(model_id: str, why: str) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"ModelScope model {model_id!r} cannot be loaded ({why}). On a machine that reaches ModelScope run "
        f"`modelscope download --model {model_id} --local_dir DIR`, copy DIR here and pass DIR/{MODELSCOPE_WEIGHTS} "
        "(a Chinese-CLIP checkpoint), or put DIR in the ModelScope cache (MODELSCOPE_CACHE)."
    )


def _example() -> str:
    return f"{MODELSCOPE_PREFIX}{next(iter(MODELSCOPE_ARCHS))}"
