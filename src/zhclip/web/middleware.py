"""What every request passes before a route: the Host/Origin/token guard and the request body limit."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from starlette.datastructures import MutableHeaders

from . import errors
from .errors import AuthError, ForbiddenError, TooLargeError
from .security import READ_ONLY, TOKEN_COOKIE, Tokens, cookie_value, host_allowed, origin_allowed, read_only_allows


def install_guard(app: FastAPI, tokens: Tokens) -> None:
    """Foreign Host headers (DNS rebinding) and cross-site writes are refused (403); with tokens, requests
    without one too (401), and the read-only token's writes (403). A token given as ?token= is kept in a cookie
    for the page's later requests. Routes find the caller's role in `request.state.role`."""
    app.add_middleware(Guard, tokens=tokens)


class Guard:
    """`install_guard`'s check, as plain ASGI: Starlette's decorator middleware costs every request a task and
    a stream of its own."""

    def __init__(self, app, tokens: Tokens):
        self.app, self.tokens = app, tokens

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            role, kept = _check(Request(scope), self.tokens)
        except (AuthError, ForbiddenError) as exc:
            return await errors.response_for(exc)(scope, receive, send)
        scope.setdefault("state", {})["role"] = role
        cookie = _token_cookie(kept) if kept else None

        async def send_guarded(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if cookie:
                    headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_guarded)


def _token_cookie(token: str) -> str:
    response = Response()
    response.set_cookie(TOKEN_COOKIE, cookie_value(token), httponly=True, samesite="strict")
    return response.headers["set-cookie"]


def _check(request: Request, tokens: Tokens) -> tuple[str, str | None]:
    """Raises for a refused request; returns the caller's role and the token to keep in a cookie (one given
    in the query string)."""
    host = request.headers.get("host", "")
    if not host_allowed(host, tokens):
        raise ForbiddenError(f"host {host!r} is not served; open http://127.0.0.1 instead")
    if request.method not in ("GET", "HEAD") and not origin_allowed(request.headers.get("origin"), host):
        raise ForbiddenError("cross-site requests are refused")
    role, kept = tokens.role(request.headers, request.cookies, request.query_params)
    if role is None:
        raise AuthError("a token is required: `Authorization: Bearer TOKEN` or ?token=TOKEN")
    if role == READ_ONLY and not read_only_allows(request.method, request.url.path):
        raise ForbiddenError(
            f"{request.method} {request.url.path} needs the admin token (`zhclip serve --token`); "
            "the token given is read-only"
        )
    return role, kept


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
            return await self._refuse(scope, receive, send)
        state = {"seen": 0, "started": False, "refused": False}

        async def counted():
            message = await receive()
            state["seen"] += len(message.get("body", b""))
            if state["seen"] > self.limit and not state["started"]:
                state["refused"] = True  # answer now: the app would call a broken-off body a bad request (400)
                await self._refuse(scope, receive, send)
                raise TooLargeError(None, self.message)
            return message

        async def send_unless_refused(message) -> None:
            state["started"] = True
            if not state["refused"]:
                await send(message)

        await self.app(scope, counted, send_unless_refused)

    async def _refuse(self, scope, receive, send) -> None:
        await errors.response_for(TooLargeError(None, self.message))(scope, receive, send)
