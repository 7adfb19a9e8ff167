"""The page, the library's status and the rescan job."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from ..params import SearcherDep

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/api/status", summary="Library counts, model, and indexing progress")
def status(searcher: SearcherDep, request: Request) -> dict:
    library = searcher.library
    return {
        "library": str(library.path),
        "counts": library.counts(),
        "model": library.encoder.identity.source,
        "arch": library.encoder.identity.arch,
        "approximate_index": library.index.approximate,
        "indexing": request.app.state.rescan.status(),
    }


@router.post(
    "/api/rescan", summary="Index the library's folders again (new, changed and deleted files)", status_code=202
)
def rescan(request: Request) -> dict:
    request.app.state.rescan.start()
    return {"started": True, "indexing": request.app.state.rescan.status()}
