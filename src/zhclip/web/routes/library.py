"""The page, the library's status and the rescan job."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...search.sources import text_sources
from ..params import SearcherDep

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
def page(request: Request, lang: Literal["zh", "en"] | None = None) -> HTMLResponse:
    return page_in_language("index.html", request, lang)


def page_in_language(name: str, request: Request, lang: str | None) -> HTMLResponse:
    """A page of static/, in the language of ?lang=, else the first of Chinese or English the browser asks for
    (the page's own switch, remembered by the browser, overrides the latter)."""
    chosen = lang if lang in ("zh", "en") else page_language(request.headers.get("accept-language", ""))
    html = _page(name).replace('<html lang="zh-CN">', f'<html lang="{"en" if chosen == "en" else "zh-CN"}">', 1)
    return HTMLResponse(html, headers={"Vary": "Accept-Language"})


def page_language(accept_language: str) -> str:
    """'zh' or 'en', whichever the Accept-Language header ranks higher (Chinese when it names neither)."""
    ranked = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        try:
            weight = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        primary = tag.strip().lower().split("-")[0]
        if primary in ("zh", "en"):
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else "zh"


@lru_cache(maxsize=4)
def _page(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@router.get("/api/status", summary="Library counts, model, text sources, indexing progress, and the caller's role")
def status(searcher: SearcherDep, request: Request) -> dict:
    """`role`: "admin" (may rescan, trash and restore) or "read-only" (the `--read-token`'s: search and read)."""
    library = searcher.library
    return {
        "role": request.state.role,
        "library": str(library.path),
        "counts": library.counts(),
        "model": library.encoder.identity.source,
        "arch": library.encoder.identity.arch,
        "approximate_index": library.vectors.approximate,
        "text_sources": [source.name for source in text_sources() if source.present(library.reader)],
        "indexing": request.app.state.rescan.status(),
    }


@router.post(
    "/api/rescan", summary="Index the library's folders again (new, changed and deleted files)", status_code=202
)
def rescan(request: Request) -> dict:
    request.app.state.rescan.start()
    return {"started": True, "indexing": request.app.state.rescan.status()}
