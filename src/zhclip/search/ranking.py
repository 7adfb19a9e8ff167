"""Match modes: what ranks a query's results, and the one entry point that every mode goes through.

- `clip`: the searcher's ranking (what the picture shows).
- one mode per text source (`ocr`, `speech`, `subtitles`, see `search.sources`): files ranked by that text.
- `text`: reciprocal-rank fusion (`search.fusion`) of every text source the library has.
- `hybrid` (the default where a library has a text source): fusion of CLIP's ranking and those of every text
  source the library has.

Weak results (`Result.weak`): CLIP's are those under the automatic threshold (`Page.cutoff`, see
`search.query`); a text source's are its partial matches (a line holding part of the query, never the
whole of it, or for speech one that only sounds like it); a fused result is weak only when every ranking
that found it has it weak (a fused page has no `cutoff`: its scores are fusion scores, not CLIP's). An
explicit `min_score` filters CLIP's ranking, and then no result is weak. Paging and date sorts work on the ranked
(or fused) list as for CLIP alone.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import InputError
from .fusion import fuse
from .query import Hit, Page, Query, Result, Searcher, check_sort, results_page
from .sources import SOURCES, TextSource, text_source, text_sources
from .stores import AnyReader

MATCHES = ("clip", *SOURCES, "text", "hybrid")
FUSED = ("text", "hybrid")  # the modes that rank by every text source the library has
CANDIDATES = 4  # each ranking of a fusion contributes this many times `top` results


def default_match(reader: AnyReader) -> str:
    return "hybrid" if any(source.present(reader) for source in text_sources()) else "clip"


def search(searcher: Searcher, query: Query, match: str | None = None) -> list[Result]:
    """Results of `query` ranked by `match` (default: hybrid for a library with a text source, else clip)."""
    return page(searcher, query, match).results


def page(searcher: Searcher, query: Query, match: str | None = None) -> Page:
    """One page of `query` (its `top` from its `offset`, in its `sort` order) ranked by `match`."""
    reader = searcher.library.reader
    match = match or default_match(reader)
    if match not in MATCHES:
        raise InputError(None, f"unknown match {match!r}; use one of {', '.join(MATCHES)}", field="match")
    if match == "clip" or (match == "hybrid" and not query.text):
        return searcher.page(query)
    sources = _present_sources(reader, match)
    if not query.text:
        raise InputError(None, f"--match {match} looks for a text: give one", field="text")
    check_sort(query)
    if match not in FUSED or (match == "text" and len(sources) == 1):
        return searcher.hits_page(query, _source_hits(sources[0], reader, query))
    wide = replace(query, top=(query.offset + query.top) * CANDIDATES, offset=0, sort="relevance")
    rankings = [searcher.hits_page(wide, _source_hits(source, reader, wide)).results for source in sources]
    if match == "hybrid":
        rankings.insert(0, searcher.page(wide).results)
    return results_page(query, fuse(rankings, wide.top))  # fused scores: no threshold on their scale


def _present_sources(reader: AnyReader, match: str) -> list[TextSource]:
    """The text sources `match` ranks by that the library has; an error saying how to add one if none."""
    wanted = text_sources() if match in FUSED else [text_source(match)]
    present = [source for source in wanted if source.present(reader)]
    if not present:
        raise wanted[0].absent(reader)
    return present


def _source_hits(source: TextSource, reader: AnyReader, query: Query) -> list[Hit]:
    hits = source.hits(reader, query)
    if query.min_score is not None:  # an explicit filter: the person judges, no result is marked weak
        for hit in hits:
            hit.weak = False
    return hits
