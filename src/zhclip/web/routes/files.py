"""Library files by id: facts, thumbnails, the original, video segments, and the text found in them."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from ...errors import InputError
from ...search.store import TEXT_STORE_VERSION
from ...search.text.lines import TEXT_SOURCES
from .. import media, serialize
from ..marks import marks
from ..params import SearcherDep, on_disk, seconds

router = APIRouter()


@router.get("/api/files/{file_id}", summary="Facts about a library file")
def file_info(searcher: SearcherDep, file_id: int) -> dict:
    return serialize.file_facts(searcher.library.reader.file(file_id))


@router.get("/api/files/{file_id}/thumbnail", summary="JPEG thumbnail", response_class=Response)
def thumbnail(
    searcher: SearcherDep,
    file_id: int,
    size: Annotated[int, Query(ge=16, le=1024)] = 256,
    at: Annotated[float | None, seconds(ge=0)] = None,
) -> Response:
    body = media.thumbnail(on_disk(searcher, file_id), size, at)
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get(
    "/api/files/{file_id}/original",
    summary="The file itself (videos support Range requests)",
    response_class=FileResponse,
)
def original(searcher: SearcherDep, file_id: int) -> FileResponse:
    record = on_disk(searcher, file_id)
    return FileResponse(
        record.path,
        media_type=mimetypes.guess_type(record.path)[0] or "application/octet-stream",
        filename=Path(record.path).name,
        content_disposition_type="inline",
    )


@router.get("/api/files/{file_id}/clip", summary="Download a video segment as MP4", response_class=Response)
def clip(
    searcher: SearcherDep,
    file_id: int,
    start: Annotated[float, seconds(ge=0)],
    end: Annotated[float, seconds(gt=0)],
    pad: Annotated[float, Query(ge=0, le=60, allow_inf_nan=False)] = 0.0,
) -> Response:
    """The segment [start - pad, end + pad] with its sound, cut without re-encoding."""
    if end <= start:
        raise InputError(None, "end must be after start", field="end")
    record = on_disk(searcher, file_id)
    start, end = max(0.0, start - pad), end + pad
    name = f"{Path(record.path).stem}_{start:.0f}-{end:.0f}s.mp4"
    return Response(
        media.clip(record, start, end),
        media_type="video/mp4",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/api/files/{file_id}/text", summary="Text found in a file, with times: speech, subtitles, OCR")
def text(
    searcher: SearcherDep,
    file_id: int,
    source: Annotated[str | None, Query(max_length=100, description="comma-separated: ocr,speech,subtitles")] = None,
    q: Annotated[str | None, Query(max_length=500, description="a query whose words each line marks")] = None,
) -> dict:
    """The file's lines of the sources asked (all when none), by source then time; each line's `marks` are the
    character ranges holding a word of `q`. A library older than the text store, on read-only storage, has none."""
    wanted = _sources(source)
    reader = searcher.library.reader
    record = reader.file(file_id)
    found = reader.content_lines(record.content_id) if reader.version >= TEXT_STORE_VERSION else []
    lines = [serialize.text_line(name, line, marks(line.text, q or "")) for name, line in found if name in wanted]
    return {"file_id": record.id, "lines": lines}


def _sources(listed: str | None) -> set[str]:
    names = {name.strip() for name in (listed or "").split(",") if name.strip()}
    unknown = sorted(names - set(TEXT_SOURCES))
    if unknown:
        raise InputError(None, f"unknown source {unknown[0]!r}; use {', '.join(TEXT_SOURCES)}", field="source")
    return names or set(TEXT_SOURCES)
