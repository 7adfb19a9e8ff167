"""What routes share: the searcher of the app, request parameters and their limits, and the check that a
library file may be read from disk."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from ..search import Filters, Searcher
from ..search.errors import NotFoundError
from ..search.ranking import MATCHES
from ..search.store import FileRecord, parse_day
from .security import inside_library

log = logging.getLogger("zhclip.web")

MAX_UPLOAD_BYTES = 20 << 20
MAX_SECONDS = 7 * 24 * 3600.0  # a moment in a video: a week is past the end of any video
MAX_TOP = 500
MAX_OFFSET = 10_000  # results of one query: far past what anyone pages through
MAX_BROWSE_OFFSET = 10_000_000

Sort = Literal["relevance", "newest", "oldest"]

Kind = Literal["all", "image", "video"]

# What ranks search results: the match modes of `search.ranking` (default: hybrid where the library has text).
Match = Literal[MATCHES]


async def _searcher(request: Request) -> Searcher:
    # async: a plain function would cost every request a trip through the thread pool
    return request.app.state.searcher


SearcherDep = Annotated[Searcher, Depends(_searcher)]


def seconds(**bounds):
    """A query parameter in seconds into a video: finite and at most a week, so that no value, however
    large, reaches PyAV's integer timestamps (a 422 instead of an OverflowError)."""
    return Query(le=MAX_SECONDS, allow_inf_nan=False, **bounds)


def filters(kind: Kind, path_contains: str | None, after: str | None, before: str | None) -> Filters:
    return Filters(
        kind=None if kind == "all" else kind,
        path_contains=path_contains or None,
        after=_date(after, "after"),
        before=_date(before, "before"),
    )


def _date(text: str | None, field: str) -> float | None:
    return parse_day(text, field) if text else None


def on_disk(searcher: Searcher, file_id: int) -> FileRecord:
    """A library file the server may read: still a regular file inside the library's folders. A path that
    became a symbolic link, or lies under a folder that became one, could lead anywhere: not served."""
    library = searcher.library
    record = library.reader.file(file_id)
    path = library.mounts.to_local(record.path)  # where this machine sees it (`--mount`)
    if not inside_library(path, library.local_roots):
        log.warning("not serving %s: no longer a regular file inside the library's folders", path)
        raise NotFoundError("file on disk", file_id)
    return replace(record, path=path)
