"""The one place that turns library files and search results into JSON."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..search import FileRecord, Result


def file_facts(record: FileRecord) -> dict:
    """Everything the library knows about a file, with its name and date (EXIF, else modification time)."""
    return {**asdict(record), "name": Path(record.path).name, "date": record.date}


def result(found: Result) -> dict:
    return {**found.as_dict(), "name": Path(found.path).name}


def results(found: list[Result]) -> dict:
    return {"results": [result(r) for r in found], "count": len(found)}
