"""Text lines in a PostgreSQL library: the functions of search/text/lines.py over its tables, with pg_trgm in
place of SQLite's FTS5.

pg_trgm cuts text into words and words into trigrams, so a Chinese query of two characters (海报) has no trigram
of its own and a plain `LIKE '%海报%'` scans every line. As immich does for CJK text, each line's key is stored a
second time as `grams`, every run of letters, digits and CJK characters written as its overlapping pairs, each
pair a word (海报设计 -> ' 海报 报设 设计 '; here Latin runs too, so 'ok' is found as '海报' is). A query becomes a
LIKE pattern on `grams` (海报 -> '% 海报 %'), whose padded trigrams the GIN index finds; `strpos` on the key then
keeps exactly the lines that hold the query, so the results are the SQLite library's. A query of one character
alone has no trigram: a scan. Scores, spans and the same-sound and partial steps are search/text/lines.py's own
(`ranked_hits`); same-sound matches the pinyin words of `sound`, symbols dropped, as FTS5's tokenizer does.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..store import Filters
from ..text.lines import TRIGRAM, LineHit, TextLine, ranked_hits, stored_line, stored_seconds
from ..text.normalize import key, sound
from .sql import FILES, filter_sql, like_escape

if TYPE_CHECKING:
    import psycopg

LINE_COLUMNS = 'l.id, l.content_id, l.source, l.start, l."end", l.text, l.key, l.sound, l.box, l.confidence'
ALNUM = re.compile(r"[^\W_]+")
RUNS = re.compile(r"[^\W_]+|[\W_]")
SOUND_WORDS = "(' ' || regexp_replace(l.sound, '[^[:alnum:]]+', ' ', 'g') || ' ')"  # as schema.py's index


def grams(line_key: str) -> str:
    """A key as pg_trgm reads it: each run of letters, digits and CJK characters as its overlapping pairs, each
    other character a word of its own, space-separated and padded."""
    return f" {' '.join(_words(line_key))} "


def _runs(text: str) -> list[str]:
    """Runs of alphanumeric characters (CJK included), and every other character alone."""
    return RUNS.findall(text)


def _words(text: str) -> list[str]:
    words = []
    for run in _runs(text):
        words += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return words


def pattern(needle: str) -> str:
    """A LIKE pattern on `grams` that every line whose key holds `needle` matches. At each end of `needle`, a
    run of 2 or more characters, or a symbol, is a whole word of the line's grams (a space is there); a single
    letter or character may be part of a longer run of the line."""
    runs = _runs(needle)
    before = "" if len(runs[0]) == 1 and runs[0].isalnum() else " "
    after = "" if len(runs[-1]) == 1 and runs[-1].isalnum() else " "
    return f"%{before}{like_escape(' '.join(_words(needle)))}{after}%"


def indexed(like: str) -> bool:
    """Whether pg_trgm draws a trigram from a pattern of `pattern`, else the GIN index cannot narrow it: a word
    with a boundary (a space or symbol) before it, one of 2 characters with one after it, or one of 3."""
    inner = like.strip("%")
    for found in ALNUM.finditer(inner):
        word, at, end = found.group(), found.start(), found.end()
        if len(word) >= 3 or at > 0 or (end < len(inner) and len(word) >= 2):
            return True
    return False


def save_lines(
    conn: psycopg.Connection,
    content_id: int,
    source: str,
    lines: Iterable[TextLine],
    error: str | None = None,
    signature: str | None = None,
) -> None:
    """Replace `source`'s lines of a content and mark the content looked at by it (inside a transaction)."""
    conn.execute("DELETE FROM text_lines WHERE content_id = %s AND source = %s", [content_id, source])
    rows = [
        (content_id, source, stored_seconds(line.start), stored_seconds(line.end), line.text, key(line.text))
        + (grams(key(line.text)),)
        + (sound(line.text), None if line.box is None else json.dumps(line.box), round(line.confidence, 4))
        for line in lines
    ]
    conn.cursor().executemany(
        'INSERT INTO text_lines(content_id, source, start, "end", text, key, grams, sound, box, confidence) '
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )
    conn.execute(
        "INSERT INTO text_contents(content_id, source, error, signature) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (content_id, source) DO UPDATE SET error = excluded.error, signature = excluded.signature",
        [content_id, source, error, signature],
    )


def source_hashes(conn: psycopg.Connection, source: str) -> set[str]:
    rows = conn.execute(
        "SELECT c.hash FROM text_contents t JOIN contents c ON c.id = t.content_id WHERE t.source = %s", [source]
    )
    return {digest for (digest,) in rows}


def source_signatures(conn: psycopg.Connection, source: str) -> dict[int, str | None]:
    return dict(conn.execute("SELECT content_id, signature FROM text_contents WHERE source = %s", [source]).fetchall())


def content_lines(conn: psycopg.Connection, content_id: int) -> list[tuple[str, TextLine]]:
    """(source, line) of every line of a content, by source, then time, then as stored."""
    rows = conn.execute(
        'SELECT source, start, "end", text, box, confidence FROM text_lines WHERE content_id = %s '
        "ORDER BY source, start NULLS FIRST, id",
        [content_id],
    )
    return [
        (source, stored_line(start, end, text, box, confidence)) for source, start, end, text, box, confidence in rows
    ]


def find_lines(
    conn: psycopg.Connection, source: str, text: str, filters: Filters, limit: int = 1000, same_sound: bool = False
) -> list[LineHit]:
    """`source`'s lines holding `text`, then (`same_sound`) those sounding like it, then those holding part of
    it, best first, from files the filters allow (as search/text/lines.py's `find_lines`)."""
    needle = key(text)
    if not needle:
        return []
    search = _Search(conn, source, filters, limit)
    exact = pattern(needle)
    rows = search.rows(["grams LIKE %s"] if indexed(exact) else [], [exact] if indexed(exact) else [], needle)
    syllables = sound(text)
    words = f"% {like_escape(' '.join(ALNUM.findall(syllables)))} %"
    heard = functools.partial(search.rows, [f"{SOUND_WORDS} LIKE %s"], [words]) if same_sound else None
    return ranked_hits(needle, syllables, rows, heard, functools.partial(_partial_rows, search, needle), limit)


class _Search:
    """Rows of one source's lines meeting any of some LIKE conditions, most confident first."""

    def __init__(self, conn: psycopg.Connection, source: str, filters: Filters, limit: int):
        self.conn, self.source, self.filters, self.limit = conn, source, filters, limit

    def rows(self, any_of: list[str], arguments: list[str], holding: str | None = None) -> list[tuple]:
        """Lines meeting any of `any_of` (none: every line) that hold `holding` (None: any)."""
        clauses, params = ["l.source = %s"], [self.source]
        if any_of:
            clauses.append(f"({' OR '.join(any_of)})")
            params += arguments
        if holding is not None:
            clauses.append("strpos(l.key, %s) > 0")
            params.append(holding)
        if self.filters.active:
            where, filter_params = filter_sql(self.filters)
            clauses.append(f"l.content_id IN (SELECT f.content_id FROM {FILES} WHERE {where})")
            params += filter_params
        sql = (
            f"SELECT {LINE_COLUMNS} FROM text_lines l WHERE {' AND '.join(clauses)} "
            "ORDER BY l.confidence DESC, l.id LIMIT %s"
        )
        return self.conn.execute(sql, [*params, self.limit]).fetchall()


def _partial_rows(search: _Search, needle: str) -> list[tuple]:
    """Lines holding a bigram (3-character query) or a trigram of the query, as SQLite's partial step; a part
    whose pattern the index cannot narrow is left out (else every query would scan)."""
    if len(needle) == TRIGRAM:
        parts = {a + b for a, b in zip(needle, needle[1:], strict=False) if a.isalnum() and b.isalnum()}
    else:
        parts = {needle[i : i + TRIGRAM] for i in range(len(needle) - TRIGRAM + 1)}
    likes = sorted(like for like in map(pattern, parts) if indexed(like))
    if not likes:
        return []
    return search.rows(["grams LIKE %s"] * len(likes), likes)
