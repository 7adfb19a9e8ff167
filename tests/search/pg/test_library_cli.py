"""`zhclip library info / copy` through the command line on both stores, and the bad `--db` values a team's
library brings (unknown scheme, unreachable server, wrong password, missing database, no pgvector, a newer
schema): each one line naming the fix, exit 2, nothing written in the working folder."""

from __future__ import annotations

import json

import pytest

from zhclip.search.meta import LibraryMeta
from zhclip.search.store import Store
from zhclip.search.text.lines import save_lines

from .library import fill
from .server import PASSWORD_ROLE

LOCATION_FACTS = ("library", "store", "schema", "queue")  # where it is, and what only PostgreSQL has


@pytest.fixture
def sqlite_library(tmp_path):
    path = tmp_path / "lib.db"
    store = Store(path)
    fill(store, save_lines, contents=12)
    with store.transaction():
        store.set_meta(LibraryMeta(roots=("/lib",), ocr=True, speech=True, speech_model="base"))
    store.close()
    return path


def facts(cli, db) -> dict:
    result = cli("library", "info", "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def without_location(library: dict) -> dict:
    return {name: value for name, value in library.items() if name not in LOCATION_FACTS}


def test_copy_into_postgresql_and_back_through_the_cli(cli, tmp_path, sqlite_library, pg_url):
    back = tmp_path / "back.db"
    copied = cli("library", "copy", sqlite_library, pg_url)
    assert copied.returncode == 0, copied.stderr
    assert f"to {pg_url}: 12 files, 12 contents, 18 vectors, 36 text lines" in copied.stdout
    assert "copying" in copied.stderr and "100%" in copied.stderr  # the progress bar: rows/s and the time left
    assert cli("library", "copy", pg_url, back, "--no-progress").returncode == 0

    original, shared, round_trip = facts(cli, sqlite_library), facts(cli, pg_url), facts(cli, back)
    assert without_location(original) == without_location(shared) == without_location(round_trip)
    assert original["counts"]["files"] == 12 and original["ocr"]["lines"] == 24 and original["roots"] == ["/lib"]
    assert (shared["library"], shared["store"], shared["schema"]) == (str(pg_url), "postgresql", 2)
    assert (round_trip["library"], round_trip["store"]) == (str(back), "sqlite")
    text = cli("library", "info", "--db", pg_url).stdout
    assert f"library {pg_url}\nstore   PostgreSQL, schema 2\n" in text and "files   12 (9 images, 3 videos" in text


def test_move_re_roots_a_postgresql_library(cli, tmp_path, sqlite_library, pg_url):
    assert cli("library", "copy", sqlite_library, pg_url, "--no-progress").returncode == 0
    moved = cli("library", "move", "/lib", tmp_path / "nas", "--db", pg_url)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout == f"{pg_url}: re-rooted 12 files (12 not found there, 0 changed there)\n"
    assert facts(cli, pg_url)["roots"] == [str(tmp_path / "nas")]
    assert "root    " + str(tmp_path / "nas") + "  (not there now)" in cli("library", "info", "--db", pg_url).stdout


def test_a_copy_into_a_library_or_from_an_empty_database_is_one_line(cli, tmp_path, sqlite_library, pg_url):
    assert cli("library", "copy", sqlite_library, pg_url, "--no-progress").returncode == 0
    again = cli("library", "copy", sqlite_library, pg_url, "--no-progress")
    assert (
        again.returncode == 2 and "already holds a library (12 files, 12 contents); copy into a new one" in again.stderr
    )
    assert len(again.stderr.splitlines()) == 1
    onto_itself = cli("library", "copy", sqlite_library, str(sqlite_library), "--no-progress")
    assert onto_itself.returncode == 2 and "target is its source" in onto_itself.stderr


def test_info_on_a_database_without_a_library_says_how_to_make_one(cli, pg_url):
    result = cli("library", "info", "--db", pg_url)
    assert result.returncode == 2 and "holds no library yet (create it with `zhclip index" in result.stderr


# ------------------------------------------------------------------ bad --db values


PLAIN_ROLE = "zhclip_cli_plain"  # may not create extensions


@pytest.fixture
def bad_urls(pg_server, pg_url, sqlite_library, cli):
    """A bad `--db` value per case, with what its message must say to fix it (roles are the server's: dropped
    after, since other tests make their own)."""
    bare = f"{pg_url.database}_bare"
    pg_server.sql([f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right'", f"CREATE ROLE {PLAIN_ROLE} LOGIN"])
    pg_server.sql([f"CREATE DATABASE {bare} OWNER {PLAIN_ROLE} TEMPLATE template0"])
    assert cli("library", "copy", sqlite_library, pg_url, "--no-progress").returncode == 0
    pg_server.sql(["UPDATE zhclip_schema SET version = 99"], database=pg_url.database)
    socket = f"host={pg_url.host}"
    yield {
        "unknown scheme": ("mysql://editor@nas/photos", "known: postgresql://, postgres://"),
        "unreachable": ("postgresql://editor@127.0.0.1:1/photos", "cannot reach the PostgreSQL server at 127.0.0.1:1"),
        "wrong password": (
            f"postgresql://{PASSWORD_ROLE}:wrong-secret@/{pg_url.database}?{socket}",
            "check the user and password in --db",
        ),
        "missing database": (f"postgresql://postgres@/absent?{socket}", "createdb -O postgres absent"),
        "no pgvector": (
            f"postgresql://{PLAIN_ROLE}@/{bare}?{socket}",
            f"a superuser runs: psql -d {bare} -c 'CREATE EXTENSION vector'",
        ),
        "newer schema": (str(pg_url), "library schema 99 is newer than this zhclip understands (2); upgrade zhclip"),
    }
    pg_server.sql([f"DROP DATABASE {bare}", f"DROP ROLE {PLAIN_ROLE}", f"DROP ROLE {PASSWORD_ROLE}"])


COMMANDS = {
    "library info": lambda db, tmp: ("library", "info", "--db", db),
    "library copy from": lambda db, tmp: ("library", "copy", db, tmp / "copy.db"),
    "library copy into": lambda db, tmp: ("library", "copy", tmp / "lib.db", db),
    "library move": lambda db, tmp: ("library", "move", "/lib", "/elsewhere", "--db", db),
}


def test_bad_library_urls_are_one_line_naming_the_fix_and_write_nothing(cli, tmp_path, monkeypatch, bad_urls):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    made = sorted(tmp_path.iterdir())
    for command, arguments in COMMANDS.items():
        for case, (url, fix) in bad_urls.items():
            result = cli(*arguments(url, tmp_path))
            said = (command, case, result.stderr)
            assert result.returncode == 2 and fix in result.stderr and len(result.stderr.splitlines()) == 1, said
            assert "wrong-secret" not in result.stderr + result.stdout
            assert not list(work.iterdir()) and sorted(tmp_path.iterdir()) == made, said


# what tests/search/pg/test_commands.py does not try on the other commands
OTHER_COMMANDS = {
    "index": lambda db, tmp, model: ("index", tmp, "--db", db, "--model", model, "--no-progress"),
    "search": lambda db, tmp, model: ("search", "北京", "--db", db),
    "similar": lambda db, tmp, model: ("similar", tmp / "lib.db", "--db", db),
    "dupes": lambda db, tmp, model: ("dupes", "--db", db),
    "serve": lambda db, tmp, model: ("serve", "--db", db, "--port", "0"),
}


def test_a_bad_scheme_password_or_pgvector_is_one_line_for_every_other_command(
    cli, tmp_path, monkeypatch, bad_urls, model_path
):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    made = sorted(tmp_path.iterdir())
    for command, arguments in OTHER_COMMANDS.items():
        for case in ("unknown scheme", "wrong password", "no pgvector"):
            url, fix = bad_urls[case]
            result = cli(*arguments(url, tmp_path, model_path), "--precision", "fp32")
            said = (command, case, result.stderr)
            assert result.returncode == 2 and fix in result.stderr and len(result.stderr.splitlines()) == 1, said
            assert "wrong-secret" not in result.stderr + result.stdout
            assert not list(work.iterdir()) and sorted(tmp_path.iterdir()) == made, said
