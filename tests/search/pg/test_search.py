"""The searcher over a PostgreSQL library gives the SQLite library's results: one folder indexed with the tiny
model, copied into PostgreSQL, the same queries (image, text, filters, similar, dupes) on both."""

from __future__ import annotations

import os
import time

import numpy as np
from PIL import Image

from zhclip.search import Filters, Library, Query, Reader, Searcher
from zhclip.search.pg.copy import copy_library
from zhclip.search.pg.store import PgReader

from ..media import COLORS, photo, solid, video


def facts(results) -> list[tuple]:
    return [(r.path, round(r.score, 4), r.start, r.end) for r in results]


def test_clip_queries_answer_the_same_on_both_stores(tmp_path, index, encoder, pg_url):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for color in ("red", "blue", "green"):
        solid(lib / "solid" / f"{color}.png", color)
    photo(lib / "it's 100%" / "random.jpg", 1)
    (lib / "it's 100%" / "random_copy.jpg").write_bytes((lib / "it's 100%" / "random.jpg").read_bytes())
    video(lib / "clips" / "movie.mp4", ["yellow", "green"])
    old = time.mktime((2015, 6, 1, 0, 0, 0, 0, 0, -1))
    os.utime(lib / "solid" / "red.png", (old, old))
    index(db, lib)
    copy_library(db, pg_url)
    searchers = [Searcher(Library(Reader(db), encoder)), Searcher(Library(PgReader(pg_url), encoder))]
    blue = encoder.encode_image(Image.new("RGB", (160, 120), COLORS["blue"]))
    queries = [
        Query(image=blue, top=10),
        Query(text="蓝色", top=3),
        Query(image=blue, filters=Filters(kind="video")),
        Query(image=blue, filters=Filters(path_contains="100%")),
        Query(image=blue, filters=Filters(path_contains="_"), top=5),
        Query(image=blue, filters=Filters(after=old + 1)),
        Query(image=blue, negative="红色", top=10),
    ]
    for query in queries:
        sqlite, pg = (facts(s.search(query)) for s in searchers)
        assert pg == sqlite, query
    sqlite_reader, pg_reader = (s.library.reader for s in searchers)
    first = sqlite_reader.file_by_path(str(lib / "solid" / "blue.png")).id
    assert facts(searchers[1].similar(first, query=Query(top=3))) == facts(
        searchers[0].similar(first, query=Query(top=3))
    )
    assert [[f.path for f in g] for g in searchers[1].library.dupes(0.99)] == [
        [f.path for f in g] for g in searchers[0].library.dupes(0.99)
    ]
    nearest = [c for c, _, _ in pg_reader.nearest(blue, 3)]
    ids, _, vectors = sqlite_reader.vectors()
    assert nearest[0] == ids[np.argmax(vectors.astype(np.float32) @ blue)]
