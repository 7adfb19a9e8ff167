"""Text lines in PostgreSQL: pg_trgm over CJK pairs finds what the SQLite library's FTS5 finds, on the same
lines and queries; the LIKE pattern never loses a line that holds the query; the index serves 2-character
Chinese queries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zhclip.search.pg import lines as pg_lines
from zhclip.search.pg.store import PgReader, PgStore
from zhclip.search.store import Filters, Reader, Store
from zhclip.search.text import lines as sqlite_lines
from zhclip.search.text.lines import TextLine

from .library import WORDS, fill, lines_of

ANY_FILE = Filters()


def hits(reader, source, query, filters=ANY_FILE, same_sound=False):
    """A reader's found lines as comparable facts, in a stable order (stores break ties in confidence differently)."""
    found = reader.find_lines(source, query, filters, same_sound=same_sound)
    return sorted((h.content_id, h.line.text, h.line.start, round(h.score, 6), h.span) for h in found)


def queries() -> list[str]:
    rng = np.random.default_rng(7)
    misread = [w[0] + "天" + w[1:] for w in WORDS[:5]] + ["海报设汁", "登机牌北京南"]
    pieces = [line[i : i + n] for line in lines_of(rng, 30) for n, i in ((3, 1), (4, 0), (5, 2))]
    return [*WORDS, *{w[0] for w in WORDS}, *misread, *pieces, "iphone", "15", "fastapi", "api文档", "¥12", "2024年"]


def test_pg_trgm_finds_what_fts5_finds_on_the_same_lines(pg_url, tmp_path):
    sqlite_store, pg_store = Store(tmp_path / "lib.db"), PgStore(pg_url)
    fill(sqlite_store, sqlite_lines.save_lines, contents=60)
    fill(pg_store, pg_lines.save_lines, contents=60)
    sqlite, pg = Reader(tmp_path / "lib.db"), PgReader(pg_url)
    differ = []
    for query in queries():
        for source, same_sound in (("ocr", False), ("speech", True)):
            if hits(pg, source, query, same_sound=same_sound) != hits(sqlite, source, query, same_sound=same_sound):
                differ.append((query, source))
    assert differ == []
    video = Filters(kind="video", path_contains="it's")
    assert hits(pg, "ocr", "海报", video) == hits(sqlite, "ocr", "海报", video)
    assert pg.text_counts() == sqlite.text_counts()
    assert pg.content_lines(4) == sqlite.content_lines(4)
    assert pg.frame_times(1) == sqlite.frame_times(1) == [0.0, 1.5, 3.0]
    assert pg.has_lines("speech") and not pg.has_lines("subtitles")
    assert pg_store.source_signatures("speech") == sqlite_store.source_signatures("speech")
    assert pg_store.source_hashes("ocr") == sqlite_store.source_hashes("ocr")
    sqlite_store.close(), pg_store.close()


KEYS = st.text(alphabet="海报设计北京ab1¥ ", min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(line=KEYS, start=st.integers(0, 11), length=st.integers(1, 6))
def test_a_line_holding_the_query_always_matches_its_pattern(line, start, length):
    line_key = pg_lines.key(line)
    needle = line_key[start : start + length]
    if needle:
        like = pg_lines.pattern(needle)
        assert _like(pg_lines.grams(line_key), like), (line_key, needle, like)


def _like(text: str, pattern: str) -> bool:
    """SQL LIKE with `%` only (the key has no `_` or backslash: they are punctuation)."""
    import re

    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("%")), text, re.DOTALL) is not None


def test_a_two_character_chinese_query_goes_through_the_trigram_index(pg_url):
    store = PgStore(pg_url)
    with store.transaction():
        store.conn.execute("INSERT INTO contents(hash, kind) VALUES ('h', 'image')")
        content_id = store.conn.execute("SELECT id FROM contents").fetchone()[0]
        lines = [TextLine(text) for text in lines_of(np.random.default_rng(3), 3000)] + [TextLine("演唱会海报")]
        store.save_lines(content_id, "ocr", lines)
    store.conn.execute("ANALYZE text_lines")
    like = pg_lines.pattern("唱会")  # in one line of 3001
    assert like == "% 唱会 %" and pg_lines.indexed(like) and not pg_lines.indexed(pg_lines.pattern("唱"))
    assert pg_lines.grams("iphone15手机壳¥12") == " ip ph ho on ne e1 15 5手 手机 机壳 ¥ 12 "
    assert _rows_the_index_gives(store, like) == 1  # the pairs' trigrams narrow 3001 lines to the one
    assert _rows_the_index_gives(store, "%唱会%") == 3001  # a plain pattern has none: every line is rechecked
    assert "演唱会海报" in [h.line.text for h in PgReader(pg_url).find_lines("ocr", "会海报", Filters())]
    store.close()


def _rows_the_index_gives(store: PgStore, like: str) -> int:
    """How many rows the GIN index hands on for `grams LIKE like` (before the recheck)."""
    with store.conn.transaction():
        store.conn.execute("SET LOCAL enable_seqscan = off")
        plan = store.conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT id FROM text_lines WHERE grams LIKE %s", [like]
        ).fetchone()[0][0]["Plan"]
    assert plan["Node Type"] == "Bitmap Heap Scan" and plan["Plans"][0]["Index Name"] == "text_lines_grams"
    return plan["Actual Rows"] + plan.get("Rows Removed by Index Recheck", 0)
