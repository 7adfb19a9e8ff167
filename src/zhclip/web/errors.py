"""The web layer's errors, and the one place where any error becomes an HTTP response.
Every error is JSON: {"error": {"status", "message"}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import InputError, ModelNotAvailableError, NumericsError, UnsupportedError, ZhclipError
from ..search.errors import DecodeError, LibraryError, NotFoundError

log = logging.getLogger("zhclip.web")


class TooLargeError(InputError):
    """An upload over the size limit (413)."""


class BusyError(ZhclipError):
    """The request conflicts with work in progress, e.g. a rescan while one runs (409)."""


class AuthError(ZhclipError):
    """Missing or wrong token (401)."""


class ForbiddenError(ZhclipError):
    """A request the server refuses: a foreign Host or Origin, or a write with the read-only token (403)."""


STATUS: list[tuple[type[Exception], int]] = [
    (NotFoundError, 404),
    (TooLargeError, 413),
    (DecodeError, 422),
    (LibraryError, 409),
    (BusyError, 409),
    (AuthError, 401),
    (ForbiddenError, 403),
    (InputError, 400),
    (UnsupportedError, 400),
    (ModelNotAvailableError, 503),
    (NumericsError, 500),
    (ZhclipError, 400),
]


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


def status_of(exc: Exception) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def response_for(exc: Exception, where: str = "") -> JSONResponse:
    """The response to `exc`, raised by a route or a middleware: its status and message; anything untyped is
    a 500 whose details go to the log only."""
    status = status_of(exc)
    if status == 500:
        log.exception("internal error on %s", where, exc_info=exc)
        return error_response(500, "internal server error (details are in the server log)")
    return error_response(status, str(exc) or type(exc).__name__)


def install(app: FastAPI) -> None:
    async def typed(request: Request, exc: Exception) -> JSONResponse:
        return response_for(exc, f"{request.method} {request.url.path}")

    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path"))
        return error_response(422, f"{where or 'request'}: {first.get('msg', 'invalid value')}")

    app.add_exception_handler(Exception, typed)
    for kind, _ in STATUS:
        app.add_exception_handler(kind, typed)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(RequestValidationError, validation)
