"""`--match clip|ocr|hybrid`: rank files by the text in them, or fuse that ranking with CLIP's.

- `ocr`: files whose OCR lines hold the query (exact phrase first, then lines holding part of it); one result
  per image, one per run of consecutive sampled video frames showing the text (the segment it is on screen).
- `hybrid`: reciprocal-rank fusion (`search.fusion`) of the CLIP and the OCR rankings, so a file either of
  them ranks high comes first, and one both rank high comes before both.

Weak results: CLIP's under the automatic threshold; OCR's partial matches (a line holding part of the
query), never an exact one; a fused result only when every ranking that found it has it weak.
- `clip`: the searcher as it is.

Paging and date sorts work on the ranked (or fused) list as for CLIP alone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

from ...errors import InputError
from ..errors import LibraryError
from ..fusion import fuse
from ..query import Hit, Page, Query, Result, Searcher, check_sort, results_page
from ..store import Reader
from .lines import LineHit, find_lines, frame_times

MATCHES = ("clip", "ocr", "hybrid")
CANDIDATES = 4  # each ranking of a fusion contributes this many times `top` results


def default_match(reader: Reader) -> str:
    return "hybrid" if reader.meta().ocr else "clip"


def search(searcher: Searcher, query: Query, match: str | None = None) -> list[Result]:
    """Results of `query` ranked by `match` (default: hybrid for a library with OCR, else clip)."""
    return page(searcher, query, match).results


def page(searcher: Searcher, query: Query, match: str | None = None) -> Page:
    """One page of `query` (its `top` from its `offset`, in its `sort` order) ranked by `match`. The
    automatic cut-off (or `min_score`) applies to CLIP's scores (a hybrid page reports CLIP's); OCR's ranking
    has none."""
    reader = searcher.library.reader
    match = match or default_match(reader)
    if match not in MATCHES:
        raise InputError(None, f"unknown match {match!r}; use one of {', '.join(MATCHES)}", field="match")
    if match == "clip" or (match == "hybrid" and not query.text):
        return searcher.page(query)
    _check_ocr(reader)
    if not query.text:
        raise InputError(None, "--match ocr looks for a text: give one", field="text")
    check_sort(query)
    if match == "ocr":
        return searcher.hits_page(query, ocr_hits(reader, query))
    wide = replace(query, top=(query.offset + query.top) * CANDIDATES, offset=0, sort="relevance")
    clip = searcher.page(wide)
    ocr = searcher.hits_page(wide, ocr_hits(reader, wide))
    return results_page(query, fuse([clip.results, ocr.results], wide.top), clip.cutoff)


def _check_ocr(reader: Reader) -> None:
    if not reader.meta().ocr:
        raise LibraryError(
            reader.path,
            "this library has no OCR text; read it with `zhclip index FOLDER --db LIBRARY --ocr` "
            "(needs pip install 'zhclip[ocr]'), or search with --match clip",
        )


def ocr_hits(reader: Reader, query: Query) -> list[Hit]:
    """Contents whose text holds `query.text`, best first; those whose text holds `query.negative` are left out."""
    wanted = query.offset + query.top
    lines = find_lines(reader.conn, query.text, query.filters, limit=max(200, 20 * wanted))
    if query.negative:
        unwanted = {h.content_id for h in find_lines(reader.conn, query.negative, query.filters) if h.score == 1.0}
        lines = [h for h in lines if h.content_id not in unwanted]
    by_content: dict[int, list[LineHit]] = defaultdict(list)
    for line in lines:
        by_content[line.content_id].append(line)
    hits: list[Hit] = []
    for content_id, found in by_content.items():
        if found[0].t is None:
            best = max(found, key=_strength)
            hits.append(Hit(content_id, best.score, ocr=best.as_dict(), weak=best.score < 1.0))
        else:
            hits += _segments(content_id, found, frame_times(reader.conn, content_id))
    hits.sort(key=lambda h: -h.score)
    return hits


def _strength(line: LineHit) -> tuple[float, float]:
    return (line.score, line.confidence)


def _segments(content_id: int, lines: list[LineHit], times: list[float]) -> list[Hit]:
    """One hit per run of consecutive sampled frames that show the text (best line of the run)."""
    best_at: dict[float, LineHit] = {}
    for line in lines:
        if line.t not in best_at or _strength(line) > _strength(best_at[line.t]):
            best_at[line.t] = line
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
        hits.append(Hit(content_id, best.score, run[0], end, best.t, ocr=best.as_dict(), weak=best.score < 1.0))
    return hits
