"""Near-duplicate review: the groups, moving the files not kept to the library's trash, and restoring them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from ...errors import InputError
from ...search.trash import restore, trash_files, trashed
from .. import serialize
from ..params import MAX_BROWSE_OFFSET, SearcherDep
from .library import page_in_language

router = APIRouter()


class TrashRequest(BaseModel):
    keep: int = Field(description="the file of the group that stays")
    trash: list[int] = Field(min_length=1, max_length=1000, description="files to move to the trash")


@router.get("/dupes", include_in_schema=False)
def dupes_page(request: Request, lang: str | None = None) -> HTMLResponse:
    return page_in_language("dupes.html", request, lang)


@router.get("/api/dupes", summary="Groups of near-duplicate files, largest first, in pages")
def dupes(
    searcher: SearcherDep,
    threshold: Annotated[float, Query(ge=0.5, le=1.0)] = 0.95,
    offset: Annotated[int, Query(ge=0, le=MAX_BROWSE_OFFSET)] = 0,
    top: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict:
    groups = searcher.library.dupes(threshold)
    page = groups[offset : offset + top]
    return {
        "groups": [{"files": [serialize.item(r) for r in group]} for group in page],
        "total": len(groups),
        "offset": offset,
        "next_offset": offset + top if offset + top < len(groups) else None,
    }


@router.post("/api/dupes/trash", summary="Keep one file of a group; move the others to the library's trash")
def trash(searcher: SearcherDep, body: TrashRequest) -> dict:
    if body.keep in body.trash:
        raise InputError(None, "the file kept cannot also go to the trash", field="trash")
    library = searcher.library
    library.reader.file(body.keep)  # it must exist
    action = trash_files(library.reader, library.roots, sorted(set(body.trash)), library.mounts)
    return {"action": serialize.trash_action(action)}


@router.get("/api/trash", summary="What is in the library's trash, newest first")
def trash_list(searcher: SearcherDep) -> dict:
    library = searcher.library
    return {"actions": [serialize.trash_action(a) for a in trashed(library.roots, library.mounts)]}


@router.post("/api/trash/{action_id}/restore", summary="Move the files of one trash action back, and index them")
def trash_restore(searcher: SearcherDep, request: Request, action_id: str) -> dict:
    library = searcher.library
    action = restore(library.roots, action_id, library.mounts)
    request.app.state.rescan.run_now()
    return {"restored": action.paths}
