import time

from fastapi.testclient import TestClient

import zhclip
from zhclip.search import IndexOptions, Library, MediaEncoder, Reader, Searcher, index_library
from zhclip.web import create_app

from ..search.media import photo


def test_rescan_indexes_new_files_and_reports_progress(tmp_path, tiny_checkpoints):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "a.jpg", 1)
    encoder = MediaEncoder(zhclip.load(tiny_checkpoints["pt"], device="cpu"))
    index_library(db, [lib], encoder, IndexOptions(commit_every=0))
    searcher = Searcher(Library(Reader(db), encoder))
    searcher.library.reload_every = 0.0
    client = TestClient(create_app(searcher), base_url="http://127.0.0.1:5000")
    for i in range(2, 6):
        photo(lib / f"new_{i}.jpg", i)
    assert client.post("/api/rescan").status_code == 202
    deadline = time.monotonic() + 60
    while client.get("/api/status").json()["indexing"]["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    status = client.get("/api/status").json()
    assert status["indexing"]["summary"].startswith("new 4,") and status["counts"]["files"] == 5
    names = {r["name"] for r in client.get("/api/search", params={"q": "照片"}).json()["results"]}
    assert {"new_2.jpg", "new_5.jpg"} <= names
