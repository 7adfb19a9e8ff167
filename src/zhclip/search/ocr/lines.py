"""OCR lines in the library: writing them with their content, and finding the lines that hold a text.

Lines are matched on their `key` (the text without whitespace, lower case). A query of 3 characters or more
goes through the FTS5 trigram index (`ocr_fts`: a phrase there is a substring match). A query of 1 or 2
characters is shorter than any trigram; it goes through `ocr_chars`, an FTS5 index of the key's single
characters, where a phrase of characters is again a substring match (benchmarks/ocr_quality.py times both
against an `instr` scan of the keys, the fallback for queries of punctuation alone). Exact matches (the whole
query inside a line) come first, then partial ones: lines sharing some of the query's trigrams (bigrams for
a 3-character query), so one misread character still finds the line.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..store import Filters
from .engine import OcrLine

TRIGRAM = 3
PARTIAL_WEIGHT = 0.9  # a partial match scores at most this (an exact one scores 1)


@dataclass(frozen=True)
class FrameLines:
    """The lines read in one image (t None) or one sampled video frame of `width` x `height` pixels."""

    t: float | None
    lines: Sequence[OcrLine]
    width: int
    height: int


@dataclass(frozen=True)
class LineHit:
    content_id: int
    t: float | None
    text: str
    box: list[list[float]]  # 4 corners, fractions of the image's width and height
    confidence: float
    score: float  # 1 for the whole query in the line, less for part of it
    span: tuple[int, int]  # the matched characters of `text` (start, end)

    def as_dict(self) -> dict:
        return {"text": self.text, "box": self.box, "confidence": self.confidence, "span": list(self.span)}


def save_ocr(conn: sqlite3.Connection, content_id: int, frames: Iterable[FrameLines], error: str | None) -> None:
    """Store what OCR read in a content (call inside the transaction that stores the content)."""
    conn.execute("DELETE FROM ocr_lines WHERE content_id = ?", (content_id,))
    rows = [
        (content_id, frame.t, line.text, key(line.text), " ".join(key(line.text)), json.dumps(_fractions(line, frame)))
        + (round(line.confidence, 4),)
        for frame in frames
        for line in frame.lines
    ]
    conn.executemany(
        "INSERT INTO ocr_lines(content_id, t, text, key, chars, box, confidence) VALUES (?,?,?,?,?,?,?)", rows
    )
    conn.execute("INSERT OR REPLACE INTO ocr_contents(content_id, error) VALUES (?, ?)", (content_id, error))


def _fractions(line: OcrLine, frame: FrameLines) -> list[list[float]]:
    return [[round(x / frame.width, 4), round(y / frame.height, 4)] for x, y in line.box]


def ocr_hashes(conn: sqlite3.Connection) -> set[str]:
    """Hashes of the contents OCR has looked at (text found or not, or OCR failed)."""
    rows = conn.execute("SELECT c.hash FROM ocr_contents o JOIN contents c ON c.id = o.content_id")
    return {digest for (digest,) in rows}


def ocr_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """What OCR holds: contents it looked at, of which unreadable, and those with lines; video frames with
    lines; lines. An old library without the OCR tables counts nothing."""
    try:
        read, failed = conn.execute("SELECT count(*), count(error) FROM ocr_contents").fetchone()
        with_text, lines = conn.execute("SELECT count(DISTINCT content_id), count(*) FROM ocr_lines").fetchone()
        (frames,) = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT content_id, t FROM ocr_lines WHERE t IS NOT NULL)"
        ).fetchone()
    except sqlite3.OperationalError:
        return {"contents": 0, "unreadable": 0, "contents_with_text": 0, "video_frames_with_text": 0, "lines": 0}
    return {
        "contents": read,
        "unreadable": failed,
        "contents_with_text": with_text,
        "video_frames_with_text": frames,
        "lines": lines,
    }


def key(text: str) -> str:
    """Text as matched: no whitespace (OCR splits and joins words freely), lower case."""
    return "".join(text.split()).lower()


def find_lines(conn: sqlite3.Connection, text: str, filters: Filters, limit: int = 1000) -> list[LineHit]:
    """Lines holding `text`, then lines holding part of it, best first, from files the filters allow."""
    needle = key(text)
    if not needle:
        return []
    if len(needle) >= TRIGRAM:
        exact = _query(conn, "ocr_fts MATCH ?", [_phrase(needle)], filters, limit)
    elif any(c.isalnum() for c in needle):
        exact = _query(conn, "ocr_chars MATCH ?", [_phrase(" ".join(needle))], filters, limit)
    else:  # punctuation alone: no token of either index
        exact = _query(conn, "instr(l.key, ?) > 0", [needle], filters, limit)
    hits = [_hit(row, needle) for row in exact]
    if len(needle) >= TRIGRAM and len(hits) < limit:
        seen = {(h.content_id, h.t, h.text) for h in hits}
        partial = [_hit(row, needle) for row in _partial_rows(conn, needle, filters, limit)]
        hits += sorted((h for h in partial if (h.content_id, h.t, h.text) not in seen), key=lambda h: -h.score)
    return hits[:limit]


def _partial_rows(conn: sqlite3.Connection, needle: str, filters: Filters, limit: int) -> list[tuple]:
    if len(needle) == TRIGRAM:  # its parts are bigrams: shorter than a trigram
        pairs = zip(needle, needle[1:], strict=False)
        bigrams = " OR ".join(_phrase(f"{a} {b}") for a, b in pairs if a.isalnum() and b.isalnum())
        return _query(conn, "ocr_chars MATCH ?", [bigrams], filters, limit) if bigrams else []
    grams = sorted({needle[i : i + TRIGRAM] for i in range(len(needle) - TRIGRAM + 1)})
    return _query(conn, "ocr_fts MATCH ?", [" OR ".join(_phrase(g) for g in grams)], filters, limit)


def _query(conn: sqlite3.Connection, match: str, args: list, filters: Filters, limit: int) -> list[tuple]:
    table = match.split()[0]
    source = f"{table} JOIN ocr_lines l ON l.id = {table}.rowid" if table.startswith("ocr_") else "ocr_lines l"
    where, params = filters.sql()
    allowed = (
        f" AND l.content_id IN (SELECT f.content_id FROM files f JOIN contents c ON c.id = f.content_id WHERE {where})"
        if filters.active
        else ""
    )
    sql = (
        f"SELECT l.content_id, l.t, l.text, l.key, l.box, l.confidence FROM {source} WHERE {match}{allowed} "
        "ORDER BY l.confidence DESC LIMIT ?"
    )
    return conn.execute(sql, [*args, *(params if filters.active else []), limit]).fetchall()


def _hit(row: tuple, needle: str) -> LineHit:
    content_id, t, text, line_key, box, confidence = row
    match = SequenceMatcher(None, line_key, needle, autojunk=False).find_longest_match(0, len(line_key), 0, len(needle))
    if match.size == len(needle):
        score = 1.0
    else:
        grams = max(1, len(needle) - 1)  # the query's bigrams, of which the line holds some
        score = PARTIAL_WEIGHT * sum(needle[i : i + 2] in line_key for i in range(grams)) / grams
    return LineHit(content_id, t, text, json.loads(box), confidence, score, _span(text, match.a, match.a + match.size))


def _span(text: str, start: int, end: int) -> tuple[int, int]:
    """Positions `start:end` of the key (no whitespace) as positions of `text`."""
    kept = [i for i, c in enumerate(text) if not c.isspace()]
    if not kept or start >= end:
        return (0, 0)
    return (kept[start], kept[end - 1] + 1)


def _phrase(needle: str) -> str:
    """An FTS5 phrase; with the trigram tokenizer it matches keys holding `needle` anywhere."""
    return '"' + needle.replace('"', '""') + '"'


def frame_times(conn: sqlite3.Connection, content_id: int) -> list[float]:
    """A video's sampled frame times (the frames both CLIP and OCR looked at), in order."""
    rows = conn.execute("SELECT t FROM vectors WHERE content_id = ? AND t IS NOT NULL ORDER BY t", (content_id,))
    return [t for (t,) in rows]
