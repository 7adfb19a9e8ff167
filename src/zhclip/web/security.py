"""Who may talk to the server: loopback by default; a token (header, cookie or ?token=) everywhere else."""

from __future__ import annotations

import hmac
import ipaddress

from ..errors import InputError

TOKEN_COOKIE = "zhclip_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


class AuthError(Exception):
    """Missing or wrong token (the error handlers answer 401)."""


class ForbiddenError(Exception):
    """A request the server refuses whatever the credentials: a foreign Host or Origin (403)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve a library beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise InputError(
            None,
            f"--host {host} makes your library reachable from other machines; "
            "add --token SECRET (clients send `Authorization: Bearer SECRET`), "
            "or bind to 127.0.0.1",
            field="--host",
        )


def token_ok(expected: str, headers, cookies, query) -> tuple[bool, bool]:
    """(authorised, came from the query string: the page then keeps it in a cookie)."""
    bearer = headers.get("authorization", "")
    candidates = [bearer[7:] if bearer.lower().startswith("bearer ") else None, cookies.get(TOKEN_COOKIE)]
    if any(c and hmac.compare_digest(c, expected) for c in candidates):
        return True, False
    given = query.get("token")
    ok = bool(given) and hmac.compare_digest(given, expected)
    return ok, ok


def host_allowed(host_header: str, token: str | None) -> bool:
    """Without a token only loopback Host headers are served (defeats DNS rebinding)."""
    if token:
        return True
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    return is_loopback(host)


def origin_allowed(origin: str | None, host_header: str) -> bool:
    """State-changing requests from another site's page are refused (CSRF)."""
    if not origin:
        return True
    return origin.split("://", 1)[-1] == host_header
