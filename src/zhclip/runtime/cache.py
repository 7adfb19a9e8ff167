"""Conversions built once and reused: ONNX exports and OpenVINO int8 models of a model's weights.

Entries live in `ZHCLIP_CACHE_DIR` (default `~/.cache/zhclip`) under `conversions/KIND/KEY/`, keyed by a digest
of the weights' tensors. An entry is built in a temporary folder and renamed into place with a list of its files
and their sizes; an entry whose list is missing or does not match the files on disk is rebuilt, never used."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import cache_dir as cache_root
from ..io import atomic_path, write_json
from .memory import release_memory

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

COMPLETE = "complete.json"
ABANDONED_AFTER_S = 3600  # a build's temporary folder this old belongs to no running build
SOURCES = "sources.json"  # local checkpoint -> its weights digest and architecture, while size and mtime hold


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A digest of every tensor's name, dtype, shape and bytes (the same weights give the same key in any format)."""
    import torch

    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().data if tensor.numel() else b"")
    return digest.hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """A digest of the files' bytes (ONNX exports that come without their checkpoint)."""
    digest = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 24):
                digest.update(chunk)
    return digest.hexdigest()


def entry(kind: str, key: str, build: Callable[[Path], None], what: str) -> Path:
    """The folder of conversion `kind` for `key`, built by `build(folder)` first if it is missing or damaged."""
    folder = cache_root() / "conversions" / kind / key
    if is_complete(folder):
        return folder
    if folder.exists():
        log.warning("conversion cache: %s is damaged; rebuilding it", folder)
        shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(folder)
    start = time.perf_counter()
    log.warning("building %s once for these weights (cached in %s)...", what, folder)
    with atomic_path(folder, directory=True) as tmp:
        build(tmp)
        _write_complete(tmp)
    release_memory()  # what converting took (an ONNX export of ViT-B-16: over a GB)
    log.warning("built %s in %.1f s", what, time.perf_counter() - start)
    return folder


def _remove_abandoned(folder: Path) -> None:
    """Delete temporary folders of earlier builds of this entry that a killed process left (an hour old)."""
    for stale in folder.parent.glob(f".{folder.name}.*.tmp"):
        if time.time() - stale.stat().st_mtime > ABANDONED_AFTER_S:
            log.warning("conversion cache: removing %s, left by an interrupted build", stale)
            shutil.rmtree(stale, ignore_errors=True)


def is_complete(folder: Path) -> bool:
    try:
        files = json.loads((folder / COMPLETE).read_text())["files"]
        return all((folder / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _write_complete(folder: Path) -> None:
    files = {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
    (folder / COMPLETE).write_text(json.dumps({"files": files}, indent=1))


def remember_source(source: str, key: str, config: dict) -> None:
    """Note that the local checkpoint `source` holds the weights `key` (so a later text-only load can find
    their conversions without reading the checkpoint)."""
    path = Path(source).expanduser()
    if not path.exists():
        return  # a hub id
    sources = _read_sources()
    sources[str(path.absolute())] = {"stamp": _stamp(path), "key": key, "config": config}
    cache_root().mkdir(parents=True, exist_ok=True)
    write_json(cache_root() / SOURCES, sources)


def recall_source(source: str | Path) -> tuple[str, dict] | None:
    """(weights key, architecture) of a local checkpoint seen before, unless it changed since."""
    path = Path(source).expanduser()
    found = _read_sources().get(str(path.absolute())) if path.exists() else None
    if not found or found.get("stamp") != _stamp(path):
        return None
    return found["key"], found["config"]


def _stamp(path: Path) -> list[int]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [sum(p.stat().st_size for p in files), max(p.stat().st_mtime_ns for p in files)]


def _read_sources() -> dict:
    try:
        return json.loads((cache_root() / SOURCES).read_text())
    except (OSError, ValueError):
        return {}
