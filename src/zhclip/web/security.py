"""Who may talk to the server: loopback by default; a token (header, cookie or ?token=) everywhere else.
Two roles: the admin token may do everything; the read-only token may search, browse, read files and list
duplicates, and nothing that writes (rescan, trash, restore) or sees the trash."""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass

from ..errors import InputError

TOKEN_COOKIE = "zhclip_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
ADMIN, READ_ONLY = "admin", "read-only"
READ_ONLY_POSTS = ("/api/search/image",)  # a POST that only reads: the uploaded image is a query
ADMIN_ONLY_GETS = ("/api/trash",)  # what was trashed is for whoever may restore it


@dataclass(frozen=True)
class Tokens:
    """The server's tokens: `admin` (`serve --token`) and `read_only` (`serve --read-token`); neither: no token
    asked (loopback only), every caller an admin."""

    admin: str | None = None
    read_only: str | None = None

    @property
    def required(self) -> bool:
        return bool(self.admin or self.read_only)

    def role(self, headers, cookies, query) -> tuple[str | None, str | None]:
        """(the caller's role, None for neither token; the token to keep in the page's cookie: one given as
        ?token=). The admin token is tried first."""
        if not self.required:
            return ADMIN, None
        for role, token in ((ADMIN, self.admin), (READ_ONLY, self.read_only)):
            if token:
                ok, from_query = token_ok(token, headers, cookies, query)
                if ok:
                    return role, token if from_query else None
        return None, None


def read_only_allows(method: str, path: str) -> bool:
    """Whether the read-only token may make this request: reads, except the trash; the writes that only read."""
    if method in ("GET", "HEAD"):
        return path not in ADMIN_ONLY_GETS
    return path in READ_ONLY_POSTS


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, read_token: str | None = None) -> None:
    """Refuse to serve a library beyond this machine without a token (admin or read-only)."""
    if not is_loopback(host) and not token and not read_token:
        raise InputError(
            None,
            f"--host {host} makes your library reachable from other machines; "
            "add --token SECRET (admin) and/or --read-token SECRET2 (search only; clients send "
            "`Authorization: Bearer SECRET`), or bind to 127.0.0.1",
            field="--host",
        )


def token_ok(expected: str, headers, cookies, query) -> tuple[bool, bool]:
    """(authorised, came from the query string: the page then keeps it in a cookie). Compared as bytes,
    so any token works: headers as sent (HTTP headers are Latin-1), query strings as UTF-8, and the cookie
    holds a digest of the token (ASCII, and not the secret itself)."""
    secret = expected.encode()
    bearer = headers.get("authorization", "")
    from_header = bearer[7:].encode("latin-1", "replace") if bearer.lower().startswith("bearer ") else b""
    if _same(from_header, secret) or _same(cookies.get(TOKEN_COOKIE, "").encode(), cookie_value(expected).encode()):
        return True, False
    ok = _same(query.get("token", "").encode("utf-8", "surrogateescape"), secret)
    return ok, ok


def cookie_value(token: str) -> str:
    """What the page's cookie holds for `token`."""
    return hmac.new(token.encode(), b"zhclip page cookie", "sha256").hexdigest()


def _same(given: bytes, expected: bytes) -> bool:
    """Constant-time comparison (of bytes: on str, hmac raises TypeError for anything but ASCII)."""
    return bool(given) and hmac.compare_digest(given, expected)


def inside_library(path: str, roots: list[str]) -> bool:
    """`path` is a regular file, not a link, whose real location (every folder link resolved) lies inside
    one of the library's `roots` (resolved too)."""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    real = os.path.realpath(path)
    return any(real == top or real.startswith(top.rstrip(os.sep) + os.sep) for top in map(os.path.realpath, roots))


def host_allowed(host_header: str, tokens: Tokens) -> bool:
    """Without a token only loopback Host headers are served (defeats DNS rebinding)."""
    if tokens.required:
        return True
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    return is_loopback(host)


def origin_allowed(origin: str | None, host_header: str) -> bool:
    """State-changing requests from another site's page are refused (CSRF)."""
    if not origin:
        return True
    return origin.split("://", 1)[-1] == host_header
