"""The PostgreSQL library answers as the SQLite library does: the same library written into both, every
reader query compared; vectors by exact and IVFFlat search, and when the index is built; SQL parameterised
(quotes, %, _ and backslashes through every filter); schema versions."""

from __future__ import annotations

import numpy as np
import pytest

from zhclip.search.errors import LibraryError, NotFoundError
from zhclip.search.meta import LibraryMeta
from zhclip.search.pg import lines as pg_lines
from zhclip.search.pg import store as store_module
from zhclip.search.pg.schema import SCHEMA_VERSION
from zhclip.search.pg.store import PgReader, PgStore, ivfflat_lists
from zhclip.search.store import Filters, Reader, Store
from zhclip.search.text import lines as sqlite_lines

from .library import DAY, ODD_FOLDERS, fill

AWKWARD = ["'", '"', "%", "_", "\\", "100%", "a_b", "back\\slash", "it's", "'; DROP TABLE files; --", "%_\\'"]


@pytest.fixture
def both(pg_url, tmp_path):
    """(SQLite reader, PostgreSQL reader, the vectors) of one library written into both stores."""
    sqlite_store, pg_store = Store(tmp_path / "lib.db"), PgStore(pg_url)
    vectors = fill(sqlite_store, sqlite_lines.save_lines)
    assert np.array_equal(fill(pg_store, pg_lines.save_lines), vectors)
    sqlite_store.close(), pg_store.close()
    return Reader(tmp_path / "lib.db"), PgReader(pg_url), vectors


def filter_cases() -> list[Filters]:
    day = 1.7e9 + 200 * DAY
    cases = [Filters(), Filters(kind="video"), Filters(kind="image", after=day), Filters(before=day)]
    cases += [Filters(path_contains=folder) for folder in ODD_FOLDERS]
    return cases + [Filters(path_contains=text, kind="image") for text in AWKWARD]


def test_every_reader_query_answers_as_sqlite(both):
    sqlite, pg, _ = both
    assert pg.meta() == sqlite.meta() and pg.generation() == sqlite.generation() == 1
    assert pg.counts() == sqlite.counts() == {"files": 40, "images": 30, "videos": 10, "contents": 40, "vectors": 60}
    for filters in filter_cases():
        assert pg.count(filters) == sqlite.count(filters), filters
        assert pg.months(filters) == sqlite.months(filters), filters
        assert sorted(pg.allowed_contents(filters)) == sorted(sqlite.allowed_contents(filters)), filters
        assert pg.files_of(range(1, 41), filters) == sqlite.files_of(range(1, 41), filters), filters
        for newest_first in (True, False, None):
            first = sqlite.browse(filters, newest_first, 0, 7)
            assert pg.browse(filters, newest_first, 0, 7) == first, filters
            if first:
                after = (first[-1].path,) if newest_first is None else (first[-1].date, first[-1].id)
                expected = sqlite.browse(filters, newest_first, 0, 7, after)
                assert pg.browse(filters, newest_first, 0, 7, after) == expected, filters
    record = sqlite.file(5)
    assert pg.file(5) == record and pg.file_by_path(record.path) == record
    assert record.shots == (0.0, 2.0) and pg.file(2).shots is None
    for read in (lambda r: r.file(10**6), lambda r: r.file(2**70), lambda r: r.file_by_path("/nowhere'%")):
        with pytest.raises(NotFoundError):
            read(pg)


def test_vectors_read_back_as_written(both):
    sqlite, pg, vectors = both
    for got, expected in zip(pg.vectors(), sqlite.vectors(), strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(pg.vectors()[2], vectors)
    for got, expected in zip(pg.content_vectors(1), sqlite.content_vectors(1), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_nearest_is_exact_below_the_limit_and_ivfflat_above(both, pg_url, monkeypatch):
    _, pg, vectors = both
    content_ids, _, _ = pg.vectors()
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(10, vectors.shape[1])).astype(np.float16)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    def exact(query, k, allowed=None):
        scores = vectors.astype(np.float32) @ query.astype(np.float32)
        order = [i for i in np.argsort(-scores, kind="stable") if allowed is None or content_ids[i] in allowed]
        return [int(content_ids[i]) for i in order[:k]]

    videos = set(pg.allowed_contents(Filters(kind="video")).tolist())
    for query in queries:
        assert [c for c, _, _ in pg.nearest(query, 5)] == exact(query, 5)
        assert [c for c, _, _ in pg.nearest(query, 5, Filters(kind="video"))] == exact(query, 5, videos)
    store = PgStore(pg_url)
    monkeypatch.setattr(store_module, "ivfflat_lists", lambda vectors: 6)  # 10 vectors a list, not 1000
    assert store.optimize(exact_limit=10**6) is False
    assert store.optimize(exact_limit=10) is True  # small limit: the index is built over the 60 vectors
    assert store.index_lists() == 6
    store.close()
    found = [[c for c, _, _ in pg.nearest(q, 5, Filters(kind="video"))] for q in queries]
    assert found == [exact(q, 5, videos) for q in queries]  # every list probed: 6 lists, IVFFLAT_PROBES more
    one_list = [[c for c, _, _ in pg.nearest(q, 5, Filters(kind="video"), probes=1)] for q in queries]
    assert all(len(f) == 5 for f in one_list)  # the iterative scan probes on until the filter leaves k
    assert len(pg.nearest(queries[0], 1500)) == 60


def test_optimize_replaces_an_older_hnsw_index_and_rebuilds_once_the_library_grew(both, pg_url, monkeypatch):
    store = PgStore(pg_url)
    store.conn.execute("CREATE INDEX vectors_hnsw ON vectors USING hnsw (vector halfvec_ip_ops)")  # an older zhclip's
    assert store.optimize(exact_limit=10) is True
    assert store.conn.execute("SELECT to_regclass('vectors_hnsw')").fetchone()[0] is None
    assert store.index_lists() == 1 and store.optimize(exact_limit=10) is False  # 60 vectors: one list suits them
    monkeypatch.setattr(store_module, "ivfflat_lists", lambda vectors: 3)
    assert store.optimize(exact_limit=10) is False  # lists for 3x the vectors: not yet
    monkeypatch.setattr(store_module, "ivfflat_lists", lambda vectors: 4)
    assert store.optimize(exact_limit=10) is True and store.index_lists() == 4
    store.clear()
    assert store.index_lists() is None
    store.close()


def test_lists_follow_pgvectors_advice():
    assert [ivfflat_lists(n) for n in (60, 100_000, 1_000_000, 4_000_000)] == [1, 100, 1000, 2000]


def test_awkward_text_passes_through_every_query_as_data(both):
    sqlite, pg, _ = both
    for text in AWKWARD:
        for filters in (Filters(path_contains=text), Filters(path_contains=text, after=0.0, before=2e9)):
            assert pg.count(filters) == sqlite.count(filters)
        for source in ("ocr", "speech"):
            assert pg_lines.find_lines(pg.conn, source, text, Filters(path_contains=text), same_sound=True) == []
    assert pg.count(Filters(path_contains="100%")) == sqlite.count(Filters(path_contains="100%")) > 0
    assert pg.count(Filters(path_contains="%")) == 11  # % is a character: 100% and percent%_mix only
    assert pg.count(Filters(path_contains="a_b")) == pg.count(Filters(path_contains="a_")) == 6
    assert pg.counts()["files"] == 40  # nothing was dropped


def test_a_store_writes_meta_clears_and_takes_another_dimension(pg_url):
    store = PgStore(pg_url)
    assert [a.shape for a in PgReader(pg_url).vectors()] == [(0,), (0,), (0, 0)]
    fill(store, pg_lines.save_lines, contents=4)
    with store.transaction():
        store.set_meta(LibraryMeta(roots=("/lib", "/媒体's")))
        store.set_meta(LibraryMeta(roots=("/lib",), ocr=True))
        store.bump_generation()
    assert store.meta().roots == ("/lib",) and store.meta().ocr and store.meta().generation == 2
    assert set(store.file_states()) == {f"/lib/{f}/file{n}.jpg" for n, f in enumerate(ODD_FOLDERS[:4])}
    with store.transaction():
        assert store.remove_files(["/lib/plain/file0.jpg", "/nowhere"]) == 1
    assert "hash0" not in store.content_ids() and len(store.content_kinds()) == 3
    assert pg_lines.source_hashes(store.conn, "ocr") == {"hash1", "hash2", "hash3"}
    with store.transaction():
        store.clear()
        fill(store, pg_lines.save_lines, contents=1)  # nested: fill's own transaction is a savepoint
    assert store.conn.execute("SELECT count(*) FROM vectors").fetchone()[0] == 3
    store.close()


def test_a_schema_newer_than_this_zhclip_is_refused(pg_url):
    PgStore(pg_url).close()
    PgReader(pg_url).conn.execute("UPDATE zhclip_schema SET version = %s", [SCHEMA_VERSION + 1])
    for open_library in (PgStore, PgReader):
        with pytest.raises(LibraryError, match=f"schema {SCHEMA_VERSION + 1} is newer .* upgrade zhclip"):
            open_library(pg_url)


def test_a_lost_connection_loses_only_the_open_batch(pg_url):
    store = PgStore(pg_url)
    fill(store, pg_lines.save_lines, contents=3)
    with pytest.raises(LibraryError, match="cannot write the library"), store.transaction():
        store.conn.execute("DELETE FROM files")
        PgReader(pg_url).conn.execute("SELECT pg_terminate_backend(%s)", [store.conn.info.backend_pid])
        store.conn.execute("DELETE FROM contents")  # the server is gone: this fails
    again = PgStore(pg_url)  # the next run goes on from the last commit
    assert len(again.file_states()) == 3
    again.close()
