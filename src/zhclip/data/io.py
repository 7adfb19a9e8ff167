"""Reading helpers shared by the data and evaluation modules: JSON lines and the bad-record policy.

Writing lives in `zhclip.io` (atomic writes)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError

logger = logging.getLogger(__name__)


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
