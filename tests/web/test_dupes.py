"""Duplicates review through the API: groups in pages, trash keeps the library in step with the disk, undo."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from zhclip.search import IndexOptions, Library, Reader, Searcher, index_library
from zhclip.web import create_app

from ..search.media import solid
from .test_api import _error


@pytest.fixture
def dupes_library(tmp_path, searcher):
    """(folder, database, client): two pictures each with an identical copy, and two other pictures."""
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for name, color in (("a", "red"), ("b", "blue"), ("c", "green"), ("d", "yellow")):
        solid(lib / f"{name}.jpg", color)
    (lib / "copies").mkdir()
    shutil.copy(lib / "a.jpg", lib / "copies" / "a_copy.jpg")
    shutil.copy(lib / "b.jpg", lib / "copies" / "b_copy.jpg")
    index_library(db, [lib], searcher.encoder, IndexOptions(commit_every=0))
    library = Library(Reader(db), searcher.encoder)
    library.reload_every = 0.0
    return lib, db, TestClient(create_app(Searcher(library)), base_url="http://127.0.0.1:5000")


def _groups(client, **params):
    return [sorted(f["name"] for f in g["files"]) for g in client.get("/api/dupes", params=params).json()["groups"]]


def test_trash_and_restore_keep_library_and_disk_in_step(dupes_library, searcher):
    lib, db, client = dupes_library
    groups = _groups(client, threshold=1.0)
    assert groups == [["a.jpg", "a_copy.jpg"], ["b.jpg", "b_copy.jpg"]]
    first = client.get("/api/dupes", params={"threshold": 1.0, "top": 1}).json()
    assert first["total"] == len(groups) and len(first["groups"]) == 1 and first["next_offset"] == 1
    files = {i["name"]: i["file_id"] for i in client.get("/api/browse").json()["items"]}

    done = client.post("/api/dupes/trash", json={"keep": files["a.jpg"], "trash": [files["a_copy.jpg"]]})
    assert done.status_code == 200, done.text
    action = done.json()["action"]
    assert action["paths"] == [str(lib / "copies" / "a_copy.jpg")]
    assert not (lib / "copies" / "a_copy.jpg").exists()
    assert (lib / ".zhclip-trash" / action["id"] / "copies" / "a_copy.jpg").is_file()
    _error(client.get(f"/api/files/{files['a_copy.jpg']}"), 404)
    assert client.get("/api/browse").json()["total"] == 5
    assert ["a.jpg", "a_copy.jpg"] not in _groups(client, threshold=1.0)
    again = index_library(db, [lib], searcher.encoder, IndexOptions(commit_every=0))
    assert (again.new, again.removed) == (0, 0), "the library already matched the disk; the trash is not read"
    assert [a["id"] for a in client.get("/api/trash").json()["actions"]] == [action["id"]]

    restored = client.post(f"/api/trash/{action['id']}/restore")
    assert restored.status_code == 200 and restored.json()["restored"] == action["paths"]
    assert (lib / "copies" / "a_copy.jpg").is_file() and not (lib / ".zhclip-trash" / action["id"]).exists()
    assert client.get("/api/browse").json()["total"] == 6
    assert ["a.jpg", "a_copy.jpg"] in _groups(client, threshold=1.0)
    assert client.get("/api/trash").json()["actions"] == []


def test_trash_refuses_bad_requests_and_leaves_everything_as_it_was(dupes_library):
    lib, db, client = dupes_library
    files = {i["name"]: i["file_id"] for i in client.get("/api/browse").json()["items"]}
    _error(client.post("/api/dupes/trash", json={"keep": files["a.jpg"], "trash": [files["a.jpg"]]}), 400)
    _error(client.post("/api/dupes/trash", json={"keep": files["a.jpg"], "trash": []}), 422)
    _error(client.post("/api/dupes/trash", json={"keep": files["a.jpg"], "trash": [987654]}), 404)
    _error(client.post("/api/trash/nosuchaction/restore"), 404)
    assert client.get("/api/browse").json()["total"] == 6 and not (lib / ".zhclip-trash").exists()

    action = client.post("/api/dupes/trash", json={"keep": files["b.jpg"], "trash": [files["b_copy.jpg"]]}).json()
    (lib / "copies" / "b_copy.jpg").write_bytes(b"someone put a file there")
    assert "there again" in _error(client.post(f"/api/trash/{action['action']['id']}/restore"), 400)
    assert (lib / ".zhclip-trash" / action["action"]["id"] / "copies" / "b_copy.jpg").is_file(), "still in the trash"
    _error(client.get("/api/dupes", params={"threshold": 2}), 422)
