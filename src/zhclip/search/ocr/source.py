"""OCR as a text source (see `search.sources`): files ranked by the words read in them.

Files whose OCR lines hold the query come first (exact phrase), then those whose lines hold part of it; one
hit per image, one per run of consecutive sampled video frames showing the text (the segment it is on
screen). A partial match is weak, an exact one never is.
"""

from __future__ import annotations

import math
from collections import defaultdict

from ..errors import LibraryError
from ..query import Hit, Query
from ..store import Reader
from ..text.lines import LineHit, find_lines, frame_times


class OcrSource:
    """The `TextSource` of the lines OCR read in photos and video frames (`zhclip index --ocr`)."""

    name = "ocr"

    def present(self, reader: Reader) -> bool:
        return bool(reader.meta().ocr)

    def absent(self, reader: Reader) -> LibraryError:
        return LibraryError(
            reader.path,
            "this library has no OCR text; read it with `zhclip index FOLDER --db LIBRARY --ocr` "
            "(needs pip install 'zhclip[ocr]'), or search with --match clip",
        )

    def hits(self, reader: Reader, query: Query) -> list[Hit]:
        """Contents whose text holds `query.text`, best first; those whose text holds `query.negative` are
        left out."""
        wanted = query.offset + query.top
        lines = find_lines(reader.conn, "ocr", query.text, query.filters, limit=max(200, 20 * wanted))
        if query.negative:
            unwanted = {
                h.content_id for h in find_lines(reader.conn, "ocr", query.negative, query.filters) if h.score == 1.0
            }
            lines = [h for h in lines if h.content_id not in unwanted]
        by_content: dict[int, list[LineHit]] = defaultdict(list)
        for line in lines:
            by_content[line.content_id].append(line)
        hits: list[Hit] = []
        for content_id, found in by_content.items():
            if found[0].line.start is None:
                hits.append(_hit(content_id, max(found, key=_strength)))
            else:
                hits += _segments(content_id, found, frame_times(reader.conn, content_id))
        hits.sort(key=lambda h: -h.score)
        return hits


SOURCE = OcrSource()


def _hit(content_id: int, line: LineHit, start: float | None = None, end: float | None = None) -> Hit:
    return Hit(content_id, line.score, start, end, line.line.start, ocr=line.ocr(), weak=line.score < 1.0)


def _strength(line: LineHit) -> tuple[float, float]:
    return (line.score, line.line.confidence)


def _segments(content_id: int, lines: list[LineHit], times: list[float]) -> list[Hit]:
    """One hit per run of consecutive sampled frames that show the text (best line of the run)."""
    best_at: dict[float, LineHit] = {}
    for line in lines:
        t = line.line.start
        if t not in best_at or _strength(line) > _strength(best_at[t]):
            best_at[t] = line
    order = {t: i for i, t in enumerate(times)}
    shown = sorted(best_at, key=lambda t: order.get(t, -1))
    runs: list[list[float]] = []
    for t in shown:
        if runs and order.get(t, -2) == order.get(runs[-1][-1], -3) + 1:
            runs[-1].append(t)
        else:
            runs.append([t])
    hits = []
    for run in runs:
        best = max((best_at[t] for t in run), key=_strength)
        after = order.get(run[-1], -1) + 1
        end = times[after] if 0 < after < len(times) else math.inf
        hits.append(_hit(content_id, best, run[0], end))
    return hits
