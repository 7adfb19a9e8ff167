"""`--db` values: paths, PostgreSQL URLs, unknown schemes refused; a server's refusals as one line naming the
fix (on the real test server)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from zhclip.errors import InputError
from zhclip.search.errors import LibraryError
from zhclip.search.location import PostgresUrl, library_location
from zhclip.search.pg.store import PgReader, PgStore

from .server import PASSWORD_ROLE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lib.db", Path("lib.db")),
        ("C:\\photos\\lib.db", Path("C:\\photos\\lib.db")),
        ("postgresql://me@db.lan:5433/photos", PostgresUrl("me", "photos", "db.lan", 5433)),
        ("postgres://me:p%40ss@db/photos", PostgresUrl("me", "photos", "db", None, "p@ss")),
        ("postgresql://me@/photos?host=/run/postgresql", PostgresUrl("me", "photos", "/run/postgresql")),
        ("postgresql://me@/photos?host=/tmp/s&port=5444", PostgresUrl("me", "photos", "/tmp/s", 5444)),
    ],
)
def test_db_values_name_a_file_or_a_database(text, expected):
    assert library_location(text) == expected


def test_a_url_prints_without_its_password():
    url = library_location("postgresql://me:secret@db:5433/photos")
    assert str(url) == "postgresql://me@db:5433/photos" and "secret" not in str(url)
    assert str(library_location("postgresql://me@/p?host=/tmp/s")) == "postgresql://me@/p?host=/tmp/s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sqlite:///lib.db", "unknown library scheme sqlite:// .* known: postgresql://, postgres://"),
        ("mysql://me@h/db", "unknown library scheme mysql://"),
        ("postgresql://db.lan/photos", "needs a user and a database"),
        ("postgresql://me@db.lan/", "needs a user and a database"),
        ("postgresql://me:secret@db:x/photos", "port .* is not a number"),
        ("postgresql://me@db/photos?sslmode=disable", "unknown parameter 'sslmode'"),
    ],
)
def test_bad_db_values_are_refused_naming_the_flag(text, message):
    with pytest.raises(InputError, match=message) as error:
        library_location(text)
    assert error.value.field == "--db" and "secret" not in str(error.value)


def test_an_unreachable_server_names_host_and_port(tmp_path):
    url = PostgresUrl("me", "photos", str(tmp_path))  # a socket folder with no server in it
    with pytest.raises(LibraryError, match="cannot reach the PostgreSQL server at .* is it running"):
        PgReader(url)


def test_wrong_credentials_an_unknown_user_and_a_missing_database(pg_server, pg_url):
    pg_server.sql([f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right'"])
    wrong = PostgresUrl(PASSWORD_ROLE, pg_url.database, pg_url.host, password="wrong")
    with pytest.raises(LibraryError, match=f"refused user '{PASSWORD_ROLE}'.*password.* check the user and password"):
        PgStore(wrong)
    with pytest.raises(LibraryError, match="refused user 'nobody'.*check the user"):
        PgStore(PostgresUrl("nobody", pg_url.database, pg_url.host))
    with pytest.raises(LibraryError, match="no database 'absent' .* createdb -O postgres absent"):
        PgStore(PostgresUrl("postgres", "absent", pg_url.host))


def test_a_database_without_pgvector_names_what_a_superuser_runs(pg_server, pg_url):
    pg_server.sql(["CREATE ROLE plain LOGIN", "CREATE DATABASE bare OWNER plain TEMPLATE template0"])
    bare = PostgresUrl("plain", "bare", pg_url.host)
    with pytest.raises(LibraryError, match="pgvector is not enabled in database 'bare' .*'CREATE EXTENSION vector'"):
        PgStore(bare)
    pg_server.sql(["CREATE EXTENSION vector"], database="bare")
    PgStore(bare).close()  # pg_trgm is trusted: the database's owner enables it


def test_without_the_postgres_extra_the_error_names_it(monkeypatch):
    from zhclip.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'zhclip\[postgres\]'"):
        PgReader(PostgresUrl("me", "photos", "/nowhere"))
