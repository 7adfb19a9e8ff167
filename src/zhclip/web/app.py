"""The FastAPI app: search API, library files by id, status and rescan, and the page.

Files are only ever addressed by their library id; no request parameter is used as a path.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..search import Filters, IndexOptions, IndexProgress
from ..search import Query as SearchQuery
from ..search.indexer import index_library
from ..search.library import library_roots
from ..search.ocr.matching import search as matched_search
from ..search.query import Searcher
from ..search.store import FileRecord, parse_day
from . import errors, media
from .errors import BusyError, TooLargeError
from .security import (
    TOKEN_COOKIE,
    AuthError,
    ForbiddenError,
    cookie_value,
    host_allowed,
    inside_library,
    origin_allowed,
    token_ok,
)

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 20 << 20
log = logging.getLogger("zhclip.web")

Kind = Literal["all", "image", "video"]
Match = Literal["clip", "ocr", "hybrid"]  # default: hybrid for a library indexed with OCR, else clip
MAX_SECONDS = 7 * 24 * 3600.0  # a moment in a video: a week is past the end of any video


def _seconds(**bounds):
    """A query parameter in seconds into a video: finite and at most a week, so that no value, however
    large, reaches PyAV's integer timestamps (a 422 instead of an OverflowError)."""
    return Query(le=MAX_SECONDS, allow_inf_nan=False, **bounds)


def create_app(searcher: Searcher, token: str | None = None) -> FastAPI:
    app = FastAPI(
        title="zhclip material search",
        version=__version__,
        description="Search a photo and video library by Chinese text or by image.",
    )
    app.state.searcher = searcher
    app.state.rescan = Rescan(searcher)
    errors.install(app)
    app.add_middleware(BodyLimit, limit=MAX_UPLOAD_BYTES + (1 << 20))  # an upload and its form fields
    _guard(app, token)
    _routes(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _guard(app: FastAPI, token: str | None) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next):
        host = request.headers.get("host", "")
        try:
            if not host_allowed(host, token):
                raise ForbiddenError(f"host {host!r} is not served; open http://127.0.0.1 instead")
            if request.method not in ("GET", "HEAD") and not origin_allowed(request.headers.get("origin"), host):
                raise ForbiddenError("cross-site requests are refused")
            from_query = False
            if token:
                ok, from_query = token_ok(token, request.headers, request.cookies, request.query_params)
                if not ok:
                    raise AuthError("a token is required: `Authorization: Bearer TOKEN` or ?token=TOKEN")
        except (AuthError, ForbiddenError) as exc:
            return errors.error_response(errors.status_of(exc), str(exc))
        response = await call_next(request)
        if from_query:
            response.set_cookie(TOKEN_COOKIE, cookie_value(token), httponly=True, samesite="strict")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


class BodyLimit:
    """Request bodies over `limit` bytes are refused (413): by their Content-Length before a byte is read,
    and as they arrive when they come in chunks without one (the form parser would spool them to disk)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit
        self.message = f"request body over {limit >> 20} MiB"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await errors.error_response(413, self.message)(scope, receive, send)
        state = {"seen": 0, "started": False, "refused": False}

        async def counted():
            message = await receive()
            state["seen"] += len(message.get("body", b""))
            if state["seen"] > self.limit and not state["started"]:
                state["refused"] = True  # answer now: the app would call a broken-off body a bad request (400)
                await errors.error_response(413, self.message)(scope, receive, send)
                raise TooLargeError(None, self.message)
            return message

        async def send_unless_refused(message) -> None:
            state["started"] = True
            if not state["refused"]:
                await send(message)

        await self.app(scope, counted, send_unless_refused)


def _filters(kind: Kind, path_contains: str | None, after: str | None, before: str | None) -> Filters:
    return Filters(
        kind=None if kind == "all" else kind,
        path_contains=path_contains or None,
        after=_date(after, "after"),
        before=_date(before, "before"),
    )


def _date(text: str | None, field: str) -> float | None:
    return parse_day(text, field) if text else None


def _results(results) -> dict:
    return {"results": [{**r.as_dict(), "name": Path(r.path).name} for r in results], "count": len(results)}


def _routes(app: FastAPI) -> None:
    searcher: Searcher = app.state.searcher

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/api/search", summary="Search by text")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=500)],
        negative: Annotated[str | None, Query(max_length=500)] = None,
        kind: Kind = "all",
        path_contains: str | None = None,
        after: str | None = None,
        before: str | None = None,
        top: Annotated[int, Query(ge=1, le=500)] = 40,
        min_score: Annotated[float | None, Query(ge=-1, le=1)] = None,
        match: Match | None = None,
    ) -> dict:
        query = SearchQuery(
            text=q,
            negative=negative or None,
            top=top,
            min_score=min_score,
            filters=_filters(kind, path_contains, after, before),
        )
        return _results(matched_search(searcher, query, match))

    @app.post("/api/search/image", summary="Search by an uploaded image (optionally with text)")
    def search_image(
        image: Annotated[UploadFile, File()],
        q: Annotated[str | None, Form(max_length=500)] = None,
        negative: Annotated[str | None, Form(max_length=500)] = None,
        kind: Annotated[Kind, Form()] = "all",
        path_contains: Annotated[str | None, Form()] = None,
        after: Annotated[str | None, Form()] = None,
        before: Annotated[str | None, Form()] = None,
        top: Annotated[int, Form(ge=1, le=500)] = 40,
        match: Annotated[Match | None, Form()] = None,
    ) -> dict:
        vector = searcher.encode_upload(_read_upload(image), image.filename or "upload")
        query = SearchQuery(
            text=q or None,
            image=vector,
            negative=negative or None,
            top=top,
            filters=_filters(kind, path_contains, after, before),
        )
        return _results(matched_search(searcher, query, match))

    @app.get("/api/similar/{file_id}", summary="More like a library file")
    def similar(
        file_id: int,
        at: Annotated[float | None, _seconds(ge=0)] = None,
        kind: Kind = "all",
        top: Annotated[int, Query(ge=1, le=500)] = 40,
    ) -> dict:
        query = SearchQuery(top=top, filters=_filters(kind, None, None, None))
        return _results(searcher.similar(file_id, at, query))

    @app.get("/api/files/{file_id}", summary="Facts about a library file")
    def file_info(file_id: int) -> dict:
        record = searcher.reader.file(file_id)
        return {**asdict(record), "name": Path(record.path).name, "date": record.date}

    @app.get("/api/files/{file_id}/thumbnail", summary="JPEG thumbnail", response_class=Response)
    def thumbnail(
        file_id: int,
        size: Annotated[int, Query(ge=16, le=1024)] = 256,
        at: Annotated[float | None, _seconds(ge=0)] = None,
    ) -> Response:
        body = media.thumbnail(_on_disk(searcher, file_id), size, at)
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get(
        "/api/files/{file_id}/original",
        summary="The file itself (videos support Range requests)",
        response_class=FileResponse,
    )
    def original(file_id: int) -> FileResponse:
        record = _on_disk(searcher, file_id)
        return FileResponse(
            record.path,
            media_type=_media_type(record.path),
            filename=Path(record.path).name,
            content_disposition_type="inline",
        )

    @app.get("/api/files/{file_id}/clip", summary="Download a video segment as MP4", response_class=Response)
    def clip(file_id: int, start: Annotated[float, _seconds(ge=0)], end: Annotated[float, _seconds(gt=0)]) -> Response:
        if end <= start:
            raise errors.InputError(None, "end must be after start", field="end")
        record = _on_disk(searcher, file_id)
        name = f"{Path(record.path).stem}_{start:.0f}-{end:.0f}s.mp4"
        return Response(
            media.clip(record, start, end), media_type="video/mp4", headers={"Content-Disposition": _attachment(name)}
        )

    @app.get("/api/status", summary="Library counts, model, and indexing progress")
    def status() -> dict:
        return {
            "library": str(searcher.reader.path),
            "counts": searcher.counts(),
            "model": searcher.encoder.identity.source,
            "arch": searcher.encoder.identity.arch,
            "approximate_index": searcher.index.approximate,
            "indexing": app.state.rescan.status(),
        }

    @app.post(
        "/api/rescan", summary="Index the library's folders again (new, changed and deleted files)", status_code=202
    )
    def rescan() -> dict:
        app.state.rescan.start()
        return {"started": True, "indexing": app.state.rescan.status()}


def _on_disk(searcher: Searcher, file_id: int) -> FileRecord:
    """A library file the server may read: still a regular file inside the library's folders. A path that
    became a symbolic link, or lies under a folder that became one, could lead anywhere: not served."""
    record = searcher.reader.file(file_id)
    if not inside_library(record.path, library_roots(searcher.reader)):
        log.warning("not serving %s: no longer a regular file inside the library's folders", record.path)
        raise errors.NotFoundError("file on disk", file_id)
    return record


def _read_upload(upload: UploadFile) -> bytes:
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLargeError(upload.filename, f"upload is larger than {MAX_UPLOAD_BYTES >> 20} MiB")
    if not data:
        raise errors.InputError(upload.filename, "empty upload", field="image")
    return data


def _media_type(path: str) -> str:
    import mimetypes

    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def _attachment(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename*=UTF-8''{quote(name)}"


class Rescan:
    """At most one background indexing run of the library's folders; its progress for /api/status."""

    def __init__(self, searcher: Searcher):
        self.searcher = searcher
        self.progress: IndexProgress | None = None
        self.summary: str | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise BusyError("a rescan is already running")
            roots = library_roots(self.searcher.reader)
            if not roots:
                raise errors.InputError(None, "the library records no folders to rescan")
            self.progress, self.error = IndexProgress(), None
            self._thread = threading.Thread(target=self._run, args=(roots,), name="zhclip-rescan", daemon=True)
            self._thread.start()

    def _run(self, roots: list[str]) -> None:
        try:
            summary = index_library(
                self.searcher.reader.path, roots, self.searcher.encoder, IndexOptions(), progress=self._track
            )
            self.summary = summary.line()
        except Exception as exc:  # reported through /api/status; the server keeps serving
            log.exception("rescan failed")
            self.error = str(exc)

    def _track(self, state: IndexProgress) -> None:
        self.progress = state

    def status(self) -> dict:
        p = self.progress
        running = self._thread is not None and self._thread.is_alive()
        if p is None:
            return {"running": False, "summary": self.summary, "error": self.error}
        return {
            "running": running,
            "phase": p.phase,
            "total": p.total,
            "done": p.done,
            "failed": p.failed,
            "files_per_s": round(p.rate, 2),
            "eta_s": None if p.eta is None else round(p.eta, 1),
            "summary": self.summary,
            "error": self.error,
        }
