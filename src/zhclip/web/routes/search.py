"""Search by text, by an uploaded image, and "more like this"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from ...errors import InputError
from ...search import Query as SearchQuery
from ...search.ranking import page as matched_page
from .. import serialize
from ..errors import TooLargeError
from ..params import MAX_OFFSET, MAX_TOP, MAX_UPLOAD_BYTES, Kind, Match, SearcherDep, Sort, filters, seconds

router = APIRouter()


@router.get("/api/search", summary="Search by text")
def search(
    searcher: SearcherDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    negative: Annotated[str | None, Query(max_length=500)] = None,
    kind: Kind = "all",
    path_contains: str | None = None,
    after: str | None = None,
    before: str | None = None,
    top: Annotated[int, Query(ge=1, le=MAX_TOP)] = 40,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    sort: Sort = "relevance",
    min_score: Annotated[float | None, Query(ge=-1, le=1)] = None,
    match: Match | None = None,
) -> JSONResponse:
    where = filters(kind, path_contains, after, before)
    return _page(
        searcher, match, SearchQuery(text=q, negative=negative or None, filters=where), top, offset, sort, min_score
    )


@router.post("/api/search/image", summary="Search by an uploaded image (optionally with text)")
def search_image(
    searcher: SearcherDep,
    image: Annotated[UploadFile, File()],
    q: Annotated[str | None, Form(max_length=500)] = None,
    negative: Annotated[str | None, Form(max_length=500)] = None,
    kind: Annotated[Kind, Form()] = "all",
    path_contains: Annotated[str | None, Form()] = None,
    after: Annotated[str | None, Form()] = None,
    before: Annotated[str | None, Form()] = None,
    top: Annotated[int, Form(ge=1, le=MAX_TOP)] = 40,
    offset: Annotated[int, Form(ge=0, le=MAX_OFFSET)] = 0,
    sort: Annotated[Sort, Form()] = "relevance",
    min_score: Annotated[float | None, Form(ge=-1, le=1)] = None,
    match: Annotated[Match | None, Form()] = None,
) -> JSONResponse:
    vector = searcher.encoder.encode_image_bytes(_read_upload(image), image.filename or "upload")
    where = filters(kind, path_contains, after, before)
    query = SearchQuery(text=q or None, image=vector, negative=negative or None, filters=where)
    return _page(searcher, match, query, top, offset, sort, min_score)


def _page(
    searcher, match, query: SearchQuery, top: int, offset: int, sort: str, min_score: float | None
) -> JSONResponse:
    """The requested page of `query`'s results (text and image search share the paging fields)."""
    query.top, query.offset, query.sort, query.min_score = top, offset, sort, min_score
    return _results(matched_page(searcher, query, match))


def _results(page) -> JSONResponse:
    """A results page as a response already: FastAPI would run its encoder over every result (~0.8 ms of a
    query); the serializer gives plain JSON values."""
    return JSONResponse(serialize.results(page))


@router.get("/api/similar/{file_id}", summary="More like a library file")
def similar(
    searcher: SearcherDep,
    file_id: int,
    at: Annotated[float | None, seconds(ge=0)] = None,
    kind: Kind = "all",
    top: Annotated[int, Query(ge=1, le=MAX_TOP)] = 40,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    sort: Sort = "relevance",
    min_score: Annotated[float | None, Query(ge=-1, le=1)] = None,
) -> JSONResponse:
    query = SearchQuery(top=top, offset=offset, sort=sort, min_score=min_score, filters=filters(kind, None, None, None))
    return _results(searcher.similar_page(file_id, at, query))


def _read_upload(upload: UploadFile) -> bytes:
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLargeError(upload.filename, f"upload is larger than {MAX_UPLOAD_BYTES >> 20} MiB")
    if not data:
        raise InputError(upload.filename, "empty upload", field="image")
    return data
