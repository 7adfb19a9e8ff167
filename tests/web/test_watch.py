"""`serve --watch`: files created, modified, renamed and deleted appear in the library within seconds; a
folder that disappears is reported and its files stay."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from tests.polling import eventually
from zhclip.search import IndexOptions, Library, Reader, Searcher, index_library
from zhclip.web import create_app

from ..search.media import photo


def test_watched_library_follows_the_disk(tmp_path, searcher):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "a.jpg", 1)
    index_library(db, [lib], searcher.encoder, IndexOptions(commit_every=0))
    watched = Searcher(Library(Reader(db), searcher.encoder))
    watched.library.reload_every = 0.0
    with TestClient(create_app(watched, watch=True), base_url="http://127.0.0.1:5000") as client:

        def names():
            return {i["name"]: i for i in client.get("/api/browse").json()["items"]}

        assert client.get("/api/status").json()["indexing"]["watching"] is True
        # no waiting for the watch to start: its first look through the folders catches what changed before
        photo(lib / "new.jpg", 2)
        eventually(lambda: "new.jpg" in names(), "a created file is in the library")
        before = names()["a.jpg"]
        photo(lib / "a.jpg", 3, size=(200, 150))
        eventually(lambda: names()["a.jpg"]["width"] == 200 and names()["a.jpg"]["size"] != before["size"], "modified")
        (lib / "new.jpg").rename(lib / "renamed.jpg")
        eventually(lambda: set(names()) == {"a.jpg", "renamed.jpg"}, "renamed")
        (lib / "a.jpg").unlink()
        eventually(lambda: set(names()) == {"renamed.jpg"}, "deleted")
        found = client.get("/api/search", params={"q": "照片", "min_score": -1}).json()["results"]
        assert [r["name"] for r in found] == ["renamed.jpg"], "search follows too"

        shutil.move(lib, tmp_path / "unplugged")
        status = eventually(
            lambda: (s := client.get("/api/status").json()["indexing"])["missing_roots"] and s, "missing root shown"
        )
        assert status["missing_roots"] == [str(lib)]
        # the watch thread indexes each burst before it looks for missing roots, and not at all while the only
        # root is missing: what the library holds now is what it keeps
        assert set(names()) == {"renamed.jpg"}, "the files of a folder that went stay"
        shutil.move(tmp_path / "unplugged", lib)
        photo(lib / "back.jpg", 4)
        eventually(lambda: client.get("/api/status").json()["indexing"]["missing_roots"] == [], "root is back")
        eventually(lambda: set(names()) == {"renamed.jpg", "back.jpg"}, "files under a returning root are indexed")


def test_a_burst_of_files_is_indexed_in_few_runs(tmp_path, searcher, monkeypatch):
    from zhclip.web import rescan

    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "first.jpg", 1)
    index_library(db, [lib], searcher.encoder, IndexOptions(commit_every=0))
    runs = []
    real = rescan.index_library
    monkeypatch.setattr(rescan, "index_library", lambda *a, **k: runs.append(1) or real(*a, **k))
    watched = Searcher(Library(Reader(db), searcher.encoder))
    with TestClient(create_app(watched, watch=True), base_url="http://127.0.0.1:5000") as client:
        for i in range(150):
            photo(lib / "burst" / f"b{i:03d}.jpg", 100 + i, size=(64, 64))
        eventually(lambda: client.get("/api/browse").json()["total"] == 151, "all 150 new files indexed")
    assert len(runs) <= 4, f"{len(runs)} indexing runs for one burst of 150 files"
