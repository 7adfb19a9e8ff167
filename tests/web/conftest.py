from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import zhclip
from zhclip.search import IndexOptions, Library, MediaEncoder, Reader, Searcher, index_library
from zhclip.web import create_app

from ..search.media import photo, video

HOSTILE_NAME = "<img src=x onerror=alert(1)>.jpg"


@pytest.fixture(scope="session")
def web_library(tmp_path_factory, tiny_checkpoints) -> tuple[Path, Path, Path]:
    """(library folder, database, model) with photos, a hostile file name and a video."""
    root = tmp_path_factory.mktemp("web")
    lib, db = root / "lib", root / "lib.db"
    for i in range(6):
        photo(lib / f"photo_{i}.jpg", i)
    photo(lib / HOSTILE_NAME, 42)
    video(lib / "clip.mp4", ["red", "green", "blue"], seconds_each=2.0)
    encoder = MediaEncoder(zhclip.load(tiny_checkpoints["pt"], device="cpu"))
    summary = index_library(db, [lib], encoder, IndexOptions(commit_every=0))
    assert summary.new == 8 and not summary.failed
    return lib, db, tiny_checkpoints["pt"]


@pytest.fixture(scope="session")
def searcher(web_library) -> Searcher:
    lib, db, model = web_library
    return Searcher(Library(Reader(db), MediaEncoder(zhclip.load(model, device="cpu"))))


@pytest.fixture
def client(searcher) -> TestClient:
    return TestClient(create_app(searcher), base_url="http://127.0.0.1:5000")
