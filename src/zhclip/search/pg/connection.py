"""Opening a PostgreSQL library: psycopg (the `postgres` extra), the server's refusals as one `LibraryError`
line each naming the fix (unreachable, wrong credentials, no such database, no pgvector), and the extensions
the schema needs (pgvector, pg_trgm) made where the user may, else an administrator is asked to."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ...extras import require
from ..errors import LibraryError
from ..location import PostgresUrl

if TYPE_CHECKING:
    import psycopg

EXTENSIONS = ("vector", "pg_trgm")
CONNECT_TIMEOUT_S = 10
NO_EXTENSION_FILE = "58P01"  # the server has no control file for the extension: not installed there
NOT_ALLOWED = "42501"


def driver():
    """The psycopg module, or a MissingExtraError naming the `postgres` extra."""
    require("postgres")
    import psycopg

    return psycopg


def connect(url: PostgresUrl) -> psycopg.Connection:
    """An autocommit connection to the library's database, in the local time zone (for dates by month)."""
    psycopg = driver()
    options = f"-c TimeZone={zone}" if (zone := local_zone()) else None
    try:
        conn = psycopg.connect(
            **url.connection_args(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, options=options
        )
    except psycopg.OperationalError as exc:
        raise connection_error(url, exc) from None
    return conn


def connection_error(url: PostgresUrl, exc: Exception) -> LibraryError:
    """What went wrong connecting, as one line naming the fix (libpq gives no SQLSTATE before a session: its
    message tells)."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    reason = re.split(r"FATAL: |failed: ", reason)[-1].strip()
    if re.search(r"password|role .* does not exist|pg_hba.conf|authentication", reason):
        fix = f"the server refused user {url.user!r} ({reason}); check the user and password in --db (or ~/.pgpass)"
    elif re.search(r"database .* does not exist", reason):
        fix = f"no database {url.database!r} on the server; create it: createdb -O {url.user} {url.database}"
    else:
        fix = (
            f"cannot reach the PostgreSQL server at {url.server} ({reason}); is it running? "
            "check the host and port in --db"
        )
    return LibraryError(url, fix)


def create_extensions(conn: psycopg.Connection, url: PostgresUrl) -> None:
    """Make pgvector and pg_trgm in the database where missing (pg_trgm is trusted: a database owner may;
    pgvector needs a superuser)."""
    psycopg = driver()
    present = {name for (name,) in conn.execute("SELECT extname FROM pg_extension")}
    for name in EXTENSIONS:
        if name in present:
            continue
        try:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")  # a fixed name, not user input
        except psycopg.Error as exc:
            raise extension_error(url, name, exc) from None


def extension_error(url: PostgresUrl, name: str, exc: Exception) -> LibraryError:
    label = "pgvector" if name == "vector" else name
    if getattr(exc, "sqlstate", None) == NO_EXTENSION_FILE:
        fix = (
            f"the server has no {label} installed; install it there (Debian 13: apt install postgresql-17-pgvector; "
            "Debian 12: see docs/team-library.md), then run again"
        )
    elif getattr(exc, "sqlstate", None) == NOT_ALLOWED:
        fix = (
            f"{label} is not enabled in database {url.database!r} and user {url.user!r} may not enable it; "
            f"a superuser runs: psql -d {url.database} -c 'CREATE EXTENSION {name}'"
        )
    else:
        fix = f"cannot enable {label} in database {url.database!r}: {str(exc).strip().splitlines()[0]}"
    return LibraryError(url, fix)


def local_zone() -> str | None:
    """This machine's IANA time zone (TZ, else /etc/localtime's link), so months group by local dates as the
    SQLite library does; None where it cannot be told (the server's zone is used)."""
    if zone := os.environ.get("TZ", "").lstrip(":"):
        return zone if "/" in zone or zone == "UTC" else None
    try:
        target = Path("/etc/localtime").resolve()
    except OSError:
        return None
    parts = target.parts
    return "/".join(parts[parts.index("zoneinfo") + 1 :]) if "zoneinfo" in parts else None
