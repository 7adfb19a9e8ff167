"""Fixtures for the PostgreSQL library: one throw-away server per test session (tests/search/pg/server.py),
a fresh database with pgvector and pg_trgm per test. Skipped, with the reason, only where no server can be
started here (`.ci/install-postgres` installs one)."""

from __future__ import annotations

import itertools

import pytest

from zhclip.search.location import PostgresUrl, library_location

from .server import Server, server_bin

NAMES = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    pytest.importorskip("psycopg", reason="needs the postgres extra: pip install 'zhclip[postgres]'")
    pytest.importorskip("pgvector", reason="needs the postgres extra: pip install 'zhclip[postgres]'")
    bindir = server_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server programs here (run .ci/install-postgres)")
    try:
        server = Server(bindir)
    except RuntimeError as exc:
        pytest.skip(f"cannot start a PostgreSQL server here: {exc}")
    try:
        server.sql(["CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS pg_trgm"])
    except Exception as exc:
        server.stop()
        pytest.skip(f"the PostgreSQL server has no pgvector or pg_trgm (run .ci/install-postgres): {exc}")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _logs_in_the_test_folder(tmp_path, monkeypatch):
    """A PostgreSQL library's log goes under $XDG_STATE_HOME (cli/search.py's `log_path`): here, not in ~."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def pg_url(pg_server) -> PostgresUrl:
    """A new empty database with pgvector and pg_trgm, as `--db` names it."""
    name = f"library_{next(NAMES)}"
    pg_server.sql([f"CREATE DATABASE {name}"])
    pg_server.sql(["CREATE EXTENSION vector", "CREATE EXTENSION pg_trgm"], database=name)
    location = library_location(pg_server.url(name))
    assert isinstance(location, PostgresUrl)
    return location
