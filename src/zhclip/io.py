"""Writing files so that readers never see a half-written one: every writer in zhclip goes through here.

A file (or folder) is written under a temporary name next to its destination and renamed over it only when
complete; on any error the temporary is removed and what was there before stays."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError


@contextmanager
def atomic_path(out: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `out`; on success it replaces `out`, on error it is removed.

    Readers of `out` therefore never see a half-written file (or directory, with `directory=True`)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(out.parent, "output folder does not exist")
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if directory and out.is_dir():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextmanager
def staged_directory(out: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder inside `out` (created if missing); on success its files move into `out`
    (replacing same-named ones), on error they are discarded. For outputs made of several files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging.{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        yield staging
        for item in staging.iterdir():
            target = out / item.name
            if item.is_dir() and target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text(out: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `out`, atomically."""
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out)


def write_json(out: str | Path, obj: Any) -> Path:
    """Write `obj` as indented JSON (UTF-8, Chinese kept readable), atomically."""
    return write_text(out, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def write_jsonl(out: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line (UTF-8, Chinese kept readable), atomically. Returns the row count."""
    count = 0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fout:
        for row in rows:
            fout.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def copy_file(src: str | Path, dst: str | Path) -> Path:
    """Copy `src` to `dst`, atomically."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)
