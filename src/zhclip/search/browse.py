"""Looking through a library without a query: by date or path, in pages a cursor keeps apart."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from ..errors import InputError
from .store import FileRecord, Filters
from .stores import AnyReader

SORTS = {"-date": True, "date": False, "path": None}  # Reader.browse's `newest_first`


@dataclass
class BrowsePage:
    items: list[FileRecord]
    total: int  # files the filters allow
    offset: int
    next_offset: int | None  # None: this is the last page
    next_cursor: str | None  # continue just after this page's last file, whatever was added or removed since


def browse(
    reader: AnyReader, filters: Filters, sort: str = "-date", offset: int = 0, top: int = 60, cursor: str | None = None
) -> BrowsePage:
    """`top` files from `offset` (counted from just after `cursor` when given) in `sort` order."""
    if sort not in SORTS:
        raise InputError(None, f"sort is one of {', '.join(SORTS)}", field="sort")
    after = _decode(cursor, sort) if cursor else None
    records = reader.browse(filters, SORTS[sort], offset, top + 1, after)
    more = len(records) > top
    records = records[:top]
    last = records[-1] if records else None
    return BrowsePage(
        items=records,
        total=reader.count(filters),
        offset=offset,
        next_offset=offset + top if more else None,
        next_cursor=_encode(last, sort) if more and last is not None else None,
    )


def _encode(record: FileRecord, sort: str) -> str:
    key = [record.path] if sort == "path" else [record.date, record.id]
    return base64.urlsafe_b64encode(json.dumps([sort, *key]).encode()).decode()


def _decode(cursor: str, sort: str) -> tuple:
    try:
        kind, *key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        valid = kind == sort and len(key) == (1 if sort == "path" else 2)
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise InputError(None, "not a cursor of this listing (take next_cursor from the previous page)", field="cursor")
    return tuple(key)
