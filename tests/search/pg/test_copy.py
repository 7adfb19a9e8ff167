"""`copy_library`: SQLite -> PostgreSQL -> SQLite gives the same rows, vectors bit for bit, text findable in
each; a target that holds a library is refused."""

from __future__ import annotations

import numpy as np
import pytest

from zhclip.media import MediaInfo
from zhclip.search.errors import LibraryError
from zhclip.search.meta import LibraryMeta
from zhclip.search.pg import copy as copy_module
from zhclip.search.pg import lines as pg_lines
from zhclip.search.pg.copy import COLUMNS, copy_library
from zhclip.search.pg.store import PgReader, PgStore
from zhclip.search.scan import ScannedFile
from zhclip.search.store import Filters, Reader, Store
from zhclip.search.text import lines as sqlite_lines
from zhclip.search.text.lines import TextLine

from .library import DIM, fill


def table_rows(conn, table: str) -> list[tuple]:
    columns = ", ".join(f'"{c}"' for c in COLUMNS[table] if c != "vector")
    return [tuple(row) for row in conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2")]


def test_a_library_copied_into_postgresql_and_back_has_the_same_rows(tmp_path, pg_url):
    original, back = tmp_path / "original.db", tmp_path / "back.db"
    store = Store(original)
    fill(store, sqlite_lines.save_lines, contents=30)
    with store.transaction():
        store.set_meta(LibraryMeta(roots=("/lib",), ocr=True, speech=True, speech_model="base"))
    store.close()

    copied = copy_library(original, pg_url)
    assert copied == {"meta": 6, "contents": 30, "vectors": 46, "files": 30, "text_lines": 90, "text_contents": 60}
    assert copy_library(pg_url, back) == copied
    sqlite, pg, round_trip = Reader(original), PgReader(pg_url), Reader(back)
    for table in COLUMNS:
        assert table_rows(pg.conn, table) == table_rows(sqlite.conn, table) == table_rows(round_trip.conn, table)
    for got, expected in zip(round_trip.vectors(), sqlite.vectors(), strict=True):
        assert got.tobytes() == expected.tobytes()
    for got, expected in zip(pg.vectors(), sqlite.vectors(), strict=True):
        assert got.tobytes() == expected.tobytes()
    assert round_trip.meta() == pg.meta() == sqlite.meta()
    found = sqlite_lines.find_lines(sqlite.conn, "ocr", "海报", Filters())
    assert found and sqlite_lines.find_lines(round_trip.conn, "ocr", "海报", Filters()) == found  # FTS rebuilt
    assert {h.line for h in pg_lines.find_lines(pg.conn, "ocr", "海报", Filters())} == {h.line for h in found}

    writer = PgStore(pg_url)  # indexing goes on after the copied ids
    with writer.transaction():
        content_id = writer.add_content("new", "image", MediaInfo(8, 8), [None], np.eye(1, DIM, dtype=np.float32))
        writer.put_file(ScannedFile("/lib/new.jpg", 1, 1, "image"), content_id)
        pg_lines.save_lines(writer.conn, content_id, "ocr", [TextLine("新海报")])
    writer.close()
    assert content_id == 31 and pg.file_by_path("/lib/new.jpg").id == 31


def test_a_target_holding_a_library_a_missing_source_and_a_copy_onto_itself_are_refused(tmp_path, pg_url):
    library = tmp_path / "lib.db"
    store = Store(library)
    fill(store, sqlite_lines.save_lines, contents=2)
    store.close()
    copy_library(library, pg_url)
    with pytest.raises(LibraryError, match="already holds a library .* copy into a new one"):
        copy_library(library, pg_url)
    with pytest.raises(LibraryError, match="no such library"):
        copy_library(tmp_path / "absent.db", pg_url)
    with pytest.raises(LibraryError, match="target is its source"):
        copy_library(pg_url, pg_url)


def small_library(path, contents: int = 12):
    store = Store(path)
    fill(store, sqlite_lines.save_lines, contents=contents)
    store.close()
    return path


def test_progress_counts_every_row_up_to_the_total(tmp_path, pg_url, monkeypatch):
    monkeypatch.setattr(copy_module, "BATCH", 7)
    heard = []
    copied = copy_library(small_library(tmp_path / "lib.db"), pg_url, lambda done, total: heard.append((done, total)))
    total = sum(copied.values())
    assert heard[0] == (0, total) and heard[-1] == (total, total)
    assert [done for done, _ in heard] == sorted(done for done, _ in heard) and len(heard) > len(copied)


class Interrupted(Exception):
    pass


def interrupt_after(batches: int):
    calls = iter(range(batches + 1))

    def progress(done: int, total: int) -> None:
        if next(calls, None) is None:
            raise Interrupted

    return progress


def test_a_copy_failing_midway_leaves_no_half_written_target(tmp_path, pg_url, monkeypatch):
    monkeypatch.setattr(copy_module, "BATCH", 5)
    library = small_library(tmp_path / "lib.db")
    with pytest.raises(Interrupted):
        copy_library(library, pg_url, interrupt_after(4))
    assert all(not table_rows(PgReader(pg_url).conn, table) for table in COLUMNS)
    copy_library(library, pg_url)  # the target takes the copy again

    target = tmp_path / "copy.db"
    with pytest.raises(Interrupted):
        copy_library(pg_url, target, interrupt_after(4))
    assert not list(tmp_path.glob("copy.db*"))  # the file made for the copy is gone, -wal and -shm too


def test_a_source_without_a_library_is_refused(tmp_path, pg_url):
    with pytest.raises(LibraryError, match="holds no library; nothing to copy"):
        copy_library(pg_url, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


def test_a_large_library_copied_into_postgresql_gets_its_vector_index(tmp_path, pg_url, monkeypatch):
    monkeypatch.setattr(copy_module, "EXACT_LIMIT", 10)  # "large": 10 vectors here, 100 000 for real
    copied = copy_library(small_library(tmp_path / "lib.db"), pg_url)
    reader = PgReader(pg_url)
    assert copied["vectors"] >= 10 and reader.conn.execute("SELECT to_regclass('vectors_ivfflat')").fetchone()[0]
