"""Text lines in the library, of every source: writing them with their content, and finding the lines that hold
a text.

Lines and queries are matched on their `key` (see `normalize`). A query of 3 characters or more goes through
the FTS5 trigram index (`text_fts`: a phrase there is a substring match). A query of 1 or 2 characters is
shorter than any trigram; it goes through `text_chars`, an FTS5 index of the key's single characters, where a
phrase of characters is again a substring match (benchmarks/ocr_quality.py times both against an `instr` scan
of the keys, the fallback for a query of symbols alone). Exact matches (the whole query inside a line) come
first; then, where asked (`same_sound`), lines that sound like the query (its toneless pinyin syllables in a
row in `text_sound`: 北京 heard as 背景); then partial ones: lines sharing some of the query's trigrams (bigrams
for a 3-character query), so one misread character still finds the line.

These functions are the SQLite library's: its `Store` and `Reader` (search/store.py) answer with them, and
search/pg/lines.py answers the same for a PostgreSQL library. Callers ask the store, not these.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from pypinyin import Style, lazy_pinyin

from .normalize import forms, key, sound, span

if TYPE_CHECKING:
    from ..store import Filters

TRIGRAM = 3
SOUND_WEIGHT = 0.95  # a line that sounds like the whole query scores this (an exact one scores 1)
PARTIAL_WEIGHT = 0.9  # a partial match scores at most this
TEXT_SOURCES = ("ocr", "speech", "subtitles")  # the sources the schema allows
LINE_COLUMNS = "l.id, l.content_id, l.source, l.start, l.end, l.text, l.key, l.sound, l.box, l.confidence"


@dataclass(frozen=True)
class TextLine:
    """A line of text found in a content: an OCR line (`start` its frame's time, None in an image; `box` its 4
    corners as fractions of the image's width and height), a speech segment or a subtitle cue (`start`, `end`
    seconds)."""

    text: str
    start: float | None = None
    end: float | None = None
    confidence: float = 1.0
    box: list[list[float]] | None = None


@dataclass(frozen=True)
class LineHit:
    content_id: int
    source: str
    line: TextLine
    score: float  # 1 for the whole query in the line, SOUND_WEIGHT for a line that sounds like it, less for part
    span: tuple[int, int]  # the matched characters of the line's text (start, end); (0, 0) where none can be shown

    def ocr(self) -> dict:
        """The matched OCR line as `Result.ocr` shows it."""
        line = self.line
        return {"text": line.text, "box": line.box, "confidence": line.confidence, "span": list(self.span)}

    def text(self) -> dict:
        """The matched line of any source as `Result.text` shows it."""
        line = self.line
        return {
            "source": self.source,
            "line": line.text,
            "start": line.start,
            "end": line.end,
            "box": line.box,
            "span": list(self.span),
        }


def save_lines(
    conn: sqlite3.Connection,
    content_id: int,
    source: str,
    lines: Iterable[TextLine],
    error: str | None = None,
    signature: str | None = None,
) -> None:
    """Replace `source`'s lines of a content and mark the content looked at by it (call inside the transaction
    that stores the content, or in one of its own)."""
    conn.execute("DELETE FROM text_lines WHERE content_id = ? AND source = ?", (content_id, source))
    rows = [
        (content_id, source, stored_seconds(line.start), stored_seconds(line.end), line.text, *forms(line.text))
        + (None if line.box is None else json.dumps(line.box), round(line.confidence, 4))
        for line in lines
    ]
    conn.executemany(
        "INSERT INTO text_lines(content_id, source, start, end, text, key, chars, sound, box, confidence) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute(
        "INSERT OR REPLACE INTO text_contents(content_id, source, error, signature) VALUES (?, ?, ?, ?)",
        (content_id, source, error, signature),
    )


def stored_seconds(t: float | None) -> float | None:
    """A line's time as both stores keep it (milliseconds)."""
    return None if t is None else round(t, 3)


def source_hashes(conn: sqlite3.Connection, source: str) -> set[str]:
    """Hashes of the contents `source` has looked at (text found or not, or reading failed)."""
    rows = conn.execute(
        "SELECT c.hash FROM text_contents t JOIN contents c ON c.id = t.content_id WHERE t.source = ?", (source,)
    )
    return {digest for (digest,) in rows}


def source_signatures(conn: sqlite3.Connection, source: str) -> dict[int, str | None]:
    """Content id -> the signature `source` saved with it, for the contents it has looked at."""
    return dict(conn.execute("SELECT content_id, signature FROM text_contents WHERE source = ?", (source,)))


def content_lines(conn: sqlite3.Connection, content_id: int) -> list[tuple[str, TextLine]]:
    """(source, line) of every line of a content, by source, then time, then as stored."""
    rows = conn.execute(
        "SELECT source, start, end, text, box, confidence FROM text_lines WHERE content_id = ? "
        "ORDER BY source, start, id",
        (content_id,),
    )
    return [
        (source, stored_line(start, end, text, box, confidence)) for source, start, end, text, box, confidence in rows
    ]


def text_counts(conn) -> dict[str, dict[str, int]]:
    """Per source: contents it looked at, of which unreadable, and those with lines; lines; distinct times with
    lines (OCR: video frames; speech and subtitles: segments and cues). `conn`: a SQLite or a PostgreSQL library's
    connection (this SQL is both's)."""
    counts = {
        s: {"contents": 0, "unreadable": 0, "contents_with_text": 0, "lines": 0, "times": 0} for s in TEXT_SOURCES
    }
    queries = {
        ("contents", "unreadable"): "SELECT source, count(*), count(error) FROM text_contents GROUP BY source",
        ("contents_with_text", "lines"): (
            "SELECT source, count(DISTINCT content_id), count(*) FROM text_lines GROUP BY source"
        ),
        ("times",): (
            "SELECT source, count(*) FROM "
            "(SELECT DISTINCT source, content_id, start FROM text_lines WHERE start IS NOT NULL) timed GROUP BY source"
        ),
    }
    for names, sql in queries.items():
        for source, *values in conn.execute(sql):
            counts[source].update(zip(names, values, strict=True))
    return counts


def find_lines(
    conn: sqlite3.Connection, source: str, text: str, filters: Filters, limit: int = 1000, same_sound: bool = False
) -> list[LineHit]:
    """`source`'s lines holding `text`, then (`same_sound`) those sounding like it, then those holding part of it,
    best first, from files the filters allow."""
    needle = key(text)
    if not needle:
        return []
    search = _Search(conn, source, filters, limit)
    if len(needle) >= TRIGRAM:
        rows = search.rows("text_fts MATCH ?", _phrase(needle))
    elif any(c.isalnum() for c in needle):
        rows = search.rows("text_chars MATCH ?", _phrase(" ".join(needle)))
    else:  # symbols alone: no token of either index
        rows = search.rows("instr(l.key, ?) > 0", needle)
    syllables = sound(text)
    heard = functools.partial(search.rows, "text_sound MATCH ?", _phrase(syllables)) if same_sound else None
    return ranked_hits(needle, syllables, rows, heard, functools.partial(_partial_rows, search, needle), limit)


def ranked_hits(
    needle: str,
    syllables: str,
    exact: list[tuple],
    heard: Callable[[], list[tuple]] | None,
    partial: Callable[[], list[tuple]],
    limit: int,
) -> list[LineHit]:
    """The order every store ranks found lines in (rows of the line columns): those holding the query (`exact`),
    then those sounding like it (`heard`, where same-sound matching is asked for), then those holding part of it
    (`partial`, for a query of a trigram or more), each line once; the later steps run only while short of
    `limit`."""
    hits = [line_hit(row, needle) for row in exact]
    seen = {row[0] for row in exact}
    if heard is not None and any(c.isalnum() for c in syllables) and len(hits) < limit:
        rows = [row for row in heard() if row[0] not in seen]
        hits += [sound_hit(row, syllables.split()) for row in rows]
        seen |= {row[0] for row in rows}
    if len(needle) >= TRIGRAM and len(hits) < limit:
        found = [line_hit(row, needle) for row in partial() if row[0] not in seen]
        hits += sorted(found, key=lambda h: -h.score)
    return hits[:limit]


class _Search:
    """Rows of one source's lines that a full-text match (or a condition on `l`) finds, most confident first."""

    def __init__(self, conn: sqlite3.Connection, source: str, filters: Filters, limit: int):
        self.conn, self.source, self.filters, self.limit = conn, source, filters, limit

    def rows(self, match: str, argument: str) -> list[tuple]:
        table = match.split()[0]
        lines = f"{table} JOIN text_lines l ON l.id = {table}.rowid" if table.startswith("text_") else "text_lines l"
        where, params = self.filters.sql()
        allowed = (
            " AND l.content_id IN "
            f"(SELECT f.content_id FROM files f JOIN contents c ON c.id = f.content_id WHERE {where})"
            if self.filters.active
            else ""
        )
        sql = (
            f"SELECT {LINE_COLUMNS} FROM {lines} WHERE {match} AND l.source = ?{allowed} "
            "ORDER BY l.confidence DESC LIMIT ?"
        )
        arguments = [argument, self.source, *(params if self.filters.active else []), self.limit]
        return self.conn.execute(sql, arguments).fetchall()


def _partial_rows(search: _Search, needle: str) -> list[tuple]:
    if len(needle) == TRIGRAM:  # its parts are bigrams: shorter than a trigram
        pairs = zip(needle, needle[1:], strict=False)
        bigrams = " OR ".join(_phrase(f"{a} {b}") for a, b in pairs if a.isalnum() and b.isalnum())
        return search.rows("text_chars MATCH ?", bigrams) if bigrams else []
    grams = sorted({needle[i : i + TRIGRAM] for i in range(len(needle) - TRIGRAM + 1)})
    return search.rows("text_fts MATCH ?", " OR ".join(_phrase(g) for g in grams))


def stored_line(start, end, text, box, confidence) -> TextLine:
    return TextLine(text, start, end, confidence, None if box is None else json.loads(box))


def line_hit(row: tuple, needle: str) -> LineHit:
    """A line found by its text (a row of the line columns): 1 for the whole query in it, else PARTIAL_WEIGHT x the
    share of the query's bigrams it holds."""
    _, content_id, source, start, end, text, line_key, _, box, confidence = row
    match = SequenceMatcher(None, line_key, needle, autojunk=False).find_longest_match(0, len(line_key), 0, len(needle))
    if match.size == len(needle):
        score = 1.0
    else:
        grams = max(1, len(needle) - 1)  # the query's bigrams, of which the line holds some
        score = PARTIAL_WEIGHT * sum(needle[i : i + 2] in line_key for i in range(grams)) / grams
    matched = span(text, match.a, match.a + match.size)
    return LineHit(content_id, source, stored_line(start, end, text, box, confidence), score, matched)


def sound_hit(row: tuple, syllables: list[str]) -> LineHit:
    """A line found by its sound, its span the characters of the matched syllables."""
    _, content_id, source, start, end, text, line_key, line_sound, box, confidence = row
    line = stored_line(start, end, text, box, confidence)
    tokens = line_sound.split()
    at = next((i for i in range(len(tokens)) if tokens[i : i + len(syllables)] == syllables), None)
    if at is None:  # the index split a token of letters and symbols otherwise: no span to point at
        return LineHit(content_id, source, line, SOUND_WEIGHT, (0, 0))
    offsets = _token_offsets(line_key)
    start_char, end_char = offsets[at], offsets[at + len(syllables)]
    return LineHit(content_id, source, line, SOUND_WEIGHT, span(text, start_char, end_char))


def _token_offsets(line_key: str) -> list[int]:
    """Where each pinyin token of `line_key` starts in it, and its length at the end: a Chinese character is a
    token of its own, a run of other characters one token written as it is."""
    offsets, at = [], 0
    for token in lazy_pinyin(line_key, style=Style.NORMAL):
        offsets.append(at)
        at += len(token) if line_key.startswith(token, at) else 1
    return [*offsets, at]


def _phrase(needle: str) -> str:
    """An FTS5 phrase; with the trigram tokenizer it matches keys holding `needle` anywhere."""
    return '"' + needle.replace('"', '""') + '"'
