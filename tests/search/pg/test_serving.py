"""Stateless servers over one PostgreSQL library: two searchers (and two apps) on one database answer from it at
every query, so files another machine indexes or removes meanwhile are found (or gone) at the next query, with
no reload; and they rank as the SQLite library of the same vectors does (tests/search/pg/library.py writes both).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient

from zhclip.media import MediaInfo
from zhclip.search import Filters, Library, Query, Reader, Searcher
from zhclip.search.pg import lines as pg_lines
from zhclip.search.pg.store import PgReader, PgStore
from zhclip.search.scan import ScannedFile
from zhclip.search.store import Store
from zhclip.search.text import lines as sqlite_lines
from zhclip.web import create_app

from ...web.test_browser import serving
from .library import DIM, fill

CONTENTS = 40  # 30 images and 10 videos of 3 frames: 60 vectors, enough for the automatic cut-off


def facts(page) -> list[tuple]:
    return [(r.path, round(r.score, 4), r.start, r.end, r.weak) for r in page.results]


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def add_image(store, name: str, vector: np.ndarray) -> None:
    """One image file, indexed by "another machine": its own store, committed."""
    with store.transaction():
        content_id = store.add_content(f"new-{name}", "image", MediaInfo(64, 48), [None], vector[None])
        store.put_file(ScannedFile(f"/lib/new/{name}", 1, 1, "image"), content_id)
        store.bump_generation()


def remove(store, name: str) -> None:
    with store.transaction():
        store.remove_files([f"/lib/new/{name}"])
        store.bump_generation()


@pytest.fixture
def stores(tmp_path, pg_url):
    """(SQLite store, PostgreSQL store, the PostgreSQL URL), both holding the same library."""
    sqlite, pg = Store(tmp_path / "lib.db"), PgStore(pg_url)
    fill(sqlite, sqlite_lines.save_lines, contents=CONTENTS)
    fill(pg, pg_lines.save_lines, contents=CONTENTS)
    yield sqlite, pg, pg_url
    sqlite.close()
    pg.close()


def queries_of(probe: np.ndarray) -> list[Query]:
    return [
        Query(image=probe, top=12),
        Query(image=probe, top=5, offset=5),
        Query(image=probe, top=8, filters=Filters(kind="video")),
        Query(image=probe, top=8, filters=Filters(path_contains="100%")),
        Query(image=probe, top=8, filters=Filters(path_contains="back\\slash")),
        Query(image=probe, top=8, sort="newest"),
        Query(image=probe, top=50, min_score=0.1),
    ]


def assert_same_answers(servers: list[Searcher], local: Searcher, queries: list[Query]) -> None:
    """Every server's pages (results, weak marks, cut-off) are the SQLite library's."""
    for query in queries:
        expected = local.page(query)
        for server in servers:
            page = server.page(query)
            assert facts(page) == facts(expected), query
            assert page.cutoff == pytest.approx(expected.cutoff, abs=1e-4) if expected.cutoff else not page.cutoff


def test_two_servers_find_what_another_machine_indexed_at_the_next_query(stores, encoder):
    sqlite, pg, url = stores
    servers = [Searcher(Library(PgReader(url), encoder)) for _ in range(2)]
    local = Searcher(Library(Reader(sqlite.path), encoder))
    local.library.reload_every = 0.0  # the in-memory copy reloads at once here; the servers have none
    for server in servers:  # their background sample (the cut-off's) is loaded again at once here too
        server.library.vectors.reload_every = 0.0
    rng = np.random.default_rng(7)
    probe = unit(rng.normal(size=DIM))
    queries = queries_of(probe)
    assert_same_answers(servers, local, queries)
    assert local.page(queries[0]).cutoff is not None  # the background rows are compared too

    near = unit(probe + rng.normal(scale=0.05, size=DIM))
    for store in (sqlite, pg):
        add_image(store, "near.jpg", near)
    for server in servers:
        assert server.page(Query(image=probe, top=1)).results[0].path == "/lib/new/near.jpg"
    assert_same_answers(servers, local, queries)

    for store in (sqlite, pg):
        remove(store, "near.jpg")
    for server in servers:
        assert "/lib/new/near.jpg" not in {r.path for r in server.search(Query(image=probe, top=60, min_score=-1))}
    assert_same_answers(servers, local, queries)


def test_through_the_vector_index_the_answers_stay_the_same(stores, encoder):
    sqlite, pg, url = stores
    with pg.transaction():
        assert pg.optimize(exact_limit=1)  # the vector index, which a library of 60 vectors would not get
    server = Searcher(Library(PgReader(url), encoder))
    local = Searcher(Library(Reader(sqlite.path), encoder))
    assert server.library.vectors.approximate and not local.library.vectors.approximate
    for seed in range(3):
        assert_same_answers([server], local, queries_of(unit(np.random.default_rng(seed).normal(size=DIM))))


def test_similar_and_segments_match_the_sqlite_library(stores, encoder):
    sqlite, pg, url = stores
    server, local = Searcher(Library(PgReader(url), encoder)), Searcher(Library(Reader(sqlite.path), encoder))
    path = "/lib/plain/file0.jpg"  # content 0: a video of 3 frames
    video = {searcher: searcher.library.reader.file_by_path(path) for searcher in (server, local)}
    assert video[local].kind == "video"
    for at in (None, 1.5):
        for sort in ("relevance", "oldest"):
            pages = [s.similar_page(video[s].id, at, Query(top=10, sort=sort)) for s in (server, local)]
            assert facts(pages[0]) == facts(pages[1])
    assert any(start is not None for _, _, start, _, _ in facts(pages[1]))  # video segments compared


def test_two_apps_serve_one_library_without_reloading(stores, encoder):
    sqlite, pg, url = stores
    apps = [
        TestClient(create_app(Searcher(Library(PgReader(url), encoder))), base_url="http://127.0.0.1:5000")
        for _ in range(2)
    ]
    first = apps[0].get("/api/browse", params={"sort": "path", "top": 1, "kind": "image"}).json()["items"][0]
    copy_of_first = stored_vector(url, first["file_id"])
    for app in apps:
        status = app.get("/api/status").json()
        assert status["counts"]["files"] == CONTENTS and status["approximate_index"] is False
        assert app.get("/api/dupes", params={"threshold": 0.999}).json()["total"] == 0

    add_image(pg, "copy.jpg", copy_of_first)
    for app in apps:
        assert app.get("/api/status").json()["counts"]["files"] == CONTENTS + 1
        similar = app.get(f"/api/similar/{first['file_id']}", params={"top": 1}).json()["results"]
        assert similar[0]["path"] == "/lib/new/copy.jpg" and similar[0]["score"] > 0.999
        groups = app.get("/api/dupes", params={"threshold": 0.999}).json()["groups"]
        assert [sorted(f["path"] for f in g["files"]) for g in groups] == [sorted([first["path"], "/lib/new/copy.jpg"])]


def test_zhclip_serve_on_two_hosts_shares_one_library(stores, model_path):
    """`zhclip serve --db postgresql://…` twice (two hosts' servers) with a read-only token: a file indexed
    meanwhile is found by both at the next request; the read-only token cannot rescan."""
    sqlite, pg, url = stores
    tokens = ("--token", "admin-secret", "--read-token", "reader")
    reader = {"Authorization": "Bearer reader"}
    with serving(str(url), model_path, *tokens) as first, serving(str(url), model_path, *tokens) as second:
        image = get(first + "api/browse?sort=path&kind=image&top=1", reader)["items"][0]
        vector = stored_vector(url, image["file_id"])
        add_image(pg, "copy.jpg", vector)
        for server in (first, second):
            assert get(server + "api/status", reader)["role"] == "read-only"
            similar = get(server + f"api/similar/{image['file_id']}?top=1", reader)["results"]
            assert similar[0]["path"] == "/lib/new/copy.jpg"
            request = urllib.request.Request(server + "api/rescan", method="POST", headers=reader)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=60)
            assert refused.value.code == 403 and "--token" in json.loads(refused.value.read())["error"]["message"]


def get(url: str, headers: dict) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
        return json.loads(response.read())


def stored_vector(url, file_id: int) -> np.ndarray:
    """The first vector the PostgreSQL library holds for a file."""
    reader = PgReader(url)
    return reader.content_vectors(reader.file(file_id).content_id)[1][0]
