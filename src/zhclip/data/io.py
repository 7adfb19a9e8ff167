"""Small I/O helpers shared by the data and evaluation modules: atomic writes, jsonl, bad-record policy."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InputError

logger = logging.getLogger(__name__)


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


def write_jsonl(out: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line (UTF-8, Chinese kept readable), atomically. Returns the row count."""
    count = 0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fout:
        for row in rows:
            fout.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(out: str | Path, obj: Any) -> Path:
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Path(out)


def iter_json_lines(path: str | Path, bad: BadRecords | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line. A line that is not JSON is a bad record."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    bad = bad or BadRecords()
    with open(path, encoding="utf-8") as fin:
        for number, line in enumerate(fin, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                bad.handle(InputError(path, f"not a JSON line: {exc.msg}", line=number))


class BadRecords:
    """What to do with a bad record: raise it (default) or, with `skip=True`, log it, count it and go on."""

    def __init__(self, skip: bool = False):
        self.skip = skip
        self.errors: list[InputError] = []

    def handle(self, error: InputError) -> None:
        if not self.skip:
            raise error
        self.errors.append(error)
        logger.warning("skipping bad record: %s", error)

    @property
    def count(self) -> int:
        return len(self.errors)
