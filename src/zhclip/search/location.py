"""Where a library lives, as `--db` names it: a path (an SQLite file, for one person) or a PostgreSQL database
(`postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`, or `postgresql://USER@/DB?host=/socket/dir` for a Unix socket),
for a library a team shares (search/pg). A value with any other `scheme://` is refused, naming the schemes known:
taken for a file name it would make a folder `postgresql:` and a new library there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import InputError

POSTGRES_SCHEMES = ("postgresql", "postgres")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
EXAMPLE = "postgresql://USER@HOST[:PORT]/DB or postgresql://USER@/DB?host=/socket/dir"


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL library: its server (a host name, or a folder holding the server's Unix socket), user and
    database. `str()` never shows the password."""

    user: str
    database: str
    host: str | None = None  # None: libpq's default (the local socket)
    port: int | None = None
    password: str | None = None

    def connection_args(self) -> dict[str, str | int]:
        """Keyword arguments for `psycopg.connect`."""
        args = {
            "user": self.user,
            "dbname": self.database,
            "host": self.host,
            "port": self.port,
            "password": self.password,
        }
        return {name: value for name, value in args.items() if value is not None}

    @property
    def server(self) -> str:
        """The server as messages name it: host[:port], or the socket folder."""
        host = self.host or "the local socket"
        return f"{host}:{self.port}" if self.port else host

    def __str__(self) -> str:
        if self.host and self.host.startswith("/"):
            port = f"&port={self.port}" if self.port else ""
            return f"postgresql://{self.user}@/{self.database}?host={self.host}{port}"
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{self.user}@{self.host or ''}{port}/{self.database}"


def library_location(text: str | Path) -> Path | PostgresUrl:
    """`--db`'s value as a library location: a PostgresUrl for `postgresql://…`, else a path."""
    if isinstance(text, Path):
        return text
    scheme = SCHEME.match(text)
    if scheme is None:
        return Path(text).expanduser()
    if scheme.group(1).lower() not in POSTGRES_SCHEMES:
        known = ", ".join(f"{s}://" for s in POSTGRES_SCHEMES)
        raise InputError(
            None,
            f"unknown library scheme {scheme.group(1)}:// in {text!r}; known: {known} (or a file path)",
            field="--db",
        )
    return _postgres_url(text)


def _postgres_url(text: str) -> PostgresUrl:
    parts = urlsplit(text)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"host", "port"})
    database = unquote(parts.path.lstrip("/"))
    if not parts.username or not database or "/" in database or unknown:
        reason = f"unknown parameter {unknown[0]!r}" if unknown else "it needs a user and a database"
        raise InputError(None, f"cannot read {_hide_password(text)!r} ({reason}); expected {EXAMPLE}", field="--db")
    try:
        port = parts.port or (int(query["port"][-1]) if "port" in query else None)
    except ValueError:
        raise InputError(None, f"the port of {_hide_password(text)!r} is not a number", field="--db") from None
    host = query["host"][-1] if "host" in query else unquote(parts.hostname or "") or None
    password = unquote(parts.password) if parts.password is not None else None
    return PostgresUrl(unquote(parts.username), database, host, port, password)


def _hide_password(text: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", text)
