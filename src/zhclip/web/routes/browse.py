"""The library without a query: files by date or path, and the months they fall in."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ...search.browse import browse as browse_library
from .. import serialize
from ..params import MAX_BROWSE_OFFSET, MAX_TOP, Kind, SearcherDep, filters

router = APIRouter()


@router.get("/api/browse", summary="The library's files, newest first (or oldest, or by path), in pages")
def browse(
    searcher: SearcherDep,
    sort: Literal["-date", "date", "path"] = "-date",
    offset: Annotated[int, Query(ge=0, le=MAX_BROWSE_OFFSET)] = 0,
    top: Annotated[int, Query(ge=1, le=MAX_TOP)] = 60,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    kind: Kind = "all",
    path_contains: str | None = None,
    after: str | None = None,
    before: str | None = None,
) -> dict:
    chosen = filters(kind, path_contains, after, before)
    return serialize.browse(browse_library(searcher.library.reader, chosen, sort, offset, top, cursor))


@router.get("/api/timeline", summary="How many files each month holds (local time), newest month first")
def timeline(
    searcher: SearcherDep,
    kind: Kind = "all",
    path_contains: str | None = None,
    after: str | None = None,
    before: str | None = None,
) -> dict:
    months = searcher.library.reader.months(filters(kind, path_contains, after, before))
    return {"months": [{"month": month, "count": count} for month, count in months]}
