"""The one place that turns library files and search results into JSON."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from ..search import FileRecord, Result
from ..search.browse import BrowsePage
from ..search.query import Page
from ..search.text.lines import TextLine
from ..search.trash import TrashAction


def file_facts(record: FileRecord) -> dict:
    """Everything the library knows about a file, with its name and date (EXIF, else modification time)."""
    return {**asdict(record), "name": Path(record.path).name, "date": record.date}


def result(found: Result) -> dict:
    return {**found.as_dict(), "name": os.path.basename(found.path)}  # Path(...).name: 5x the time


def results(page: Page) -> dict:
    return {
        "results": [result(r) for r in page.results],
        "count": len(page.results),
        "offset": page.offset,
        "next_offset": page.next_offset,
        "cutoff": None if page.cutoff is None else round(page.cutoff, 4),  # where weak results begin
    }


def text_line(source: str, line: TextLine, marks: list[tuple[int, int]]) -> dict:
    """A line of text found in a file as the viewer lists it; `marks`: its character ranges to mark."""
    return {"source": source, "start": line.start, "end": line.end, "text": line.text, "marks": marks}


def item(record: FileRecord) -> dict:
    """A file as the library's browse view lists it."""
    return {
        "file_id": record.id,
        "path": record.path,
        "name": Path(record.path).name,
        "kind": record.kind,
        "date": round(record.date, 4),
        "size": record.size,
        "width": record.width,
        "height": record.height,
        "duration": record.duration,
        "camera": record.camera,
    }


def browse(page: BrowsePage) -> dict:
    return {
        "items": [item(r) for r in page.items],
        "count": len(page.items),
        "total": page.total,
        "offset": page.offset,
        "next_offset": page.next_offset,
        "next_cursor": page.next_cursor,
    }


def trash_action(action: TrashAction) -> dict:
    return {"id": action.id, "at": round(action.at, 3), "paths": action.paths}
