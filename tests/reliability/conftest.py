"""Fixtures of the fast reliability checks. The machinery lives in `benchmarks/reliability/` (the long runs
use it with bigger numbers); the search fixtures (tiny model, encoder, `index`) come from tests/search."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from benchmarks.reliability.environment import MountNotPermitted, tmpfs
from benchmarks.reliability.fuzz import response_problem
from benchmarks.reliability.library import integrity, snapshot
from fastapi.testclient import TestClient

from tests.search.conftest import encoder, index, model_path  # noqa: F401 - fixtures shared with tests/search
from tests.search.media import photo, video
from zhclip.search import Library, Reader, Searcher
from zhclip.web import create_app

LOOPBACK = "http://127.0.0.1:5000"


@pytest.fixture(scope="session")
def good_library(tmp_path_factory, encoder):  # noqa: F811 - the imported fixture
    """(folder, database) of three photos and a video, indexed once; copy the database before writing."""
    from zhclip.search import IndexOptions, index_library

    root = tmp_path_factory.mktemp("good")
    for i in range(3):
        photo(root / "lib" / f"good_{i}.jpg", 70 + i)
    video(root / "lib" / "good.mp4", ["red", "green"], seconds_each=1.0)
    summary = index_library(root / "lib.db", [root / "lib"], encoder, IndexOptions(workers=2, commit_every=0))
    assert summary.new == 4 and not summary.failed
    return root / "lib", root / "lib.db"


@pytest.fixture
def library_copy(good_library, tmp_path) -> Path:
    """A private copy of the good library's database (its files stay where they are)."""
    return Path(shutil.copy(good_library[1], tmp_path / "lib.db"))


def assert_intact(db: Path, before: dict) -> None:
    """The library passes SQLite's checks and still holds `before` (a snapshot) unchanged."""
    assert integrity(db) == "ok"
    after = snapshot(db)
    lost = {p for p in before if p not in after or after[p].hash != before[p].hash}
    assert not lost, f"library lost {sorted(lost)}"


def assert_json_error(response, status: int | None = None) -> str:
    """A 4xx JSON error with a message (and no traceback); returns the message."""
    problem = response_problem(response.status_code, response.headers.get("content-type", ""), response.text)
    assert problem is None, problem
    assert response.status_code >= 400 and (status is None or response.status_code == status), response.text
    return response.json()["error"]["message"]


def client_for(db: Path, encoder, base_url: str = LOOPBACK, **app_options) -> TestClient:  # noqa: F811
    searcher = Searcher(Library(Reader(db), encoder))
    return TestClient(create_app(searcher, **app_options), base_url=base_url, raise_server_exceptions=False)


@pytest.fixture
def small_tmpfs(tmp_path):
    """mount(name, size) -> a fresh tmpfs under tmp_path (skips where mounting is not permitted)."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def mount(name: str, size: str) -> Path:
            try:
                return stack.enter_context(tmpfs(tmp_path / name, size))
            except MountNotPermitted as exc:
                pytest.skip(f"cannot mount a tmpfs here: {exc}")

        yield mount


def file_count(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        conn.close()
