"""Step 6: CLIP ranking — text, image, "more like this", negatives, filters; video frames merged into segments.

Results are always ranked best first and never hidden by default: with `min_score` None the automatic
threshold (see `cutoff`) only marks where weaker matches begin (`Result.weak`, `Page.cutoff`). An explicit
`min_score` filters instead: results under it are left out, and none is weak (-1: the whole ranked list).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import InputError
from ..media.shots import snap
from .compute import on_compute_thread
from .cutoff import automatic_cutoff
from .library import Library
from .store import FileRecord, Filters
from .vectors import Found, FrameScores, Vectors

# A video frame matches when its score is within SEGMENT_MARGIN of the video's best frame, and within
# SEGMENT_SPREAD of the way from the best down to the worst frame (so a model with compressed scores still
# separates the matching part of a video from the rest).
SEGMENT_MARGIN = 0.02
SEGMENT_SPREAD = 0.25
CANDIDATE_FACTOR = 4  # rows searched per wanted result where videos (several rows each) or a negative thin them
MATCHED_SET = 1000  # rows ranked when the matched set is sorted by date
SORTS = ("relevance", "newest", "oldest")


@dataclass
class Query:
    text: str | None = None
    image: np.ndarray | None = None  # an already-encoded query vector (uploaded image, "similar")
    negative: str | None = None
    filters: Filters = field(default_factory=Filters)
    top: int = 20
    min_score: float | None = None  # None: all results, those under the automatic threshold weak; -1: no filter
    exclude_file: int | None = None  # "similar" leaves the query file out (its duplicates stay)
    offset: int = 0  # results to skip (the pages before this one)
    sort: str = "relevance"  # or "newest", "oldest": the matched set by date


@dataclass
class Page:
    results: list[Result]
    offset: int
    next_offset: int | None  # None: the last page
    cutoff: float | None  # the score where weak results begin (None: no automatic threshold applies)


@dataclass
class Result:
    file_id: int
    path: str
    kind: str
    score: float
    start: float | None = None  # video segment, seconds
    end: float | None = None
    frame: float | None = None  # the best-matching frame of the segment
    width: int | None = None
    height: int | None = None
    date: float | None = None
    camera: str | None = None
    ocr: dict | None = None  # the matched OCR line (--match ocr/text/hybrid): text, box, confidence, span
    text: dict | None = None  # the matched line of any text source: source, line, start, end, box, span
    weak: bool = False  # under the automatic threshold: a weaker match, after the strong ones

    def as_dict(self) -> dict:
        """The fields, floats rounded (shallow: `dataclasses.asdict` deep-copies, ~40 us a result)."""
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in values}


@dataclass
class Hit:
    """A ranked content (for a video: a segment of it), before it is resolved into the files that hold it."""

    content_id: int
    score: float
    start: float | None = None
    end: float | None = None
    frame: float | None = None
    ocr: dict | None = None
    text: dict | None = None
    weak: bool = False


class Searcher:
    """Ranks a library's files for a query: the vectors and files come from `library`."""

    def __init__(self, library: Library):
        self.library = library
        self.encoder = library.encoder

    def search(self, query: Query) -> list[Result]:
        return self.page(query).results

    def page(self, query: Query) -> Page:
        """One page of results: `query.top` from `query.offset`, in `query.sort` order."""
        check_sort(query)
        hits, cutoff = on_compute_thread(self._ranked, query)
        return self.hits_page(query, hits, cutoff)

    def hits_page(self, query: Query, hits: list[Hit], cutoff: float | None = None) -> Page:
        """The page of `query` out of ranked `hits` (best first)."""
        wanted = None if query.sort != "relevance" else query.offset + query.top + 1
        return results_page(query, self._results(hits, query.filters, wanted, query.exclude_file), cutoff)

    def _ranked(self, query: Query) -> tuple[list[Hit], float | None]:
        """The ranked hits of `query` (filtered by an explicit `min_score`) and the automatic threshold."""
        vector = self.query_vector(query)
        negative = self.encoder.encode_text(query.negative) if query.negative else None
        vectors = self.library.vectors
        wanted = MATCHED_SET if query.sort != "relevance" else query.offset + max(1, query.top) + 1
        spare = 1 if vectors.one_row_per_content and negative is None else CANDIDATE_FACTOR
        found = vectors.nearest(vector, wanted * spare + 16, query.filters, background=query.min_score is None)
        merged = _merge(vectors, vector, found)
        if negative is not None:
            merged = _unlike(vectors, negative, merged)
        if query.min_score is not None:
            return [h for h in merged if h.score >= query.min_score], None
        cutoff = automatic_cutoff(found.background, merged[0].score) if merged else None
        if cutoff is not None:
            for hit in merged:
                hit.weak = hit.score < cutoff
        return merged, cutoff

    def similar(self, file_id: int, at: float | None = None, query: Query | None = None) -> list[Result]:
        return self.similar_page(file_id, at, query).results

    def similar_page(self, file_id: int, at: float | None = None, query: Query | None = None) -> Page:
        """Results like a library file (for a video: its frame nearest `at`, else its mean frame)."""
        reader = self.library.reader
        record = reader.file(file_id)
        times, vectors = reader.content_vectors(record.content_id)
        if at is not None and record.kind == "video":
            vector = vectors[int(np.nanargmin(np.abs(times - at)))]
        else:
            vector = _normalise(vectors.mean(axis=0))
        base = query or Query()
        base.image, base.text, base.exclude_file = vector, None, record.id
        return self.page(base)

    def query_vector(self, query: Query) -> np.ndarray:
        parts = []
        if query.text:
            parts.append(self.encoder.encode_text(query.text))
        if query.image is not None:
            parts.append(np.asarray(query.image, np.float32))
        if not parts:
            raise InputError(None, "give a text or an image to search with", field="text")
        return _normalise(np.sum(parts, axis=0))

    def _results(self, hits: list[Hit], filters: Filters, top: int | None, exclude_file: int | None) -> list[Result]:
        files: dict[int, list[FileRecord]] = {}
        for record in self.library.reader.files_of({h.content_id for h in hits}, filters):
            files.setdefault(record.content_id, []).append(record)
        out: list[Result] = []
        for hit in hits:
            for record in files.get(hit.content_id, []):
                if record.id == exclude_file:
                    continue
                start, end = _segment(hit, record)
                out.append(
                    Result(
                        record.id,
                        record.path,
                        record.kind,
                        hit.score,
                        start,
                        end,
                        hit.frame,
                        record.width,
                        record.height,
                        record.date,
                        record.camera,
                        ocr=hit.ocr,
                        text=hit.text,
                        weak=hit.weak,
                    )
                )
        return out[:top]


LINE_REACH = 1.0  # seconds from a cut to a said or subtitled line that still starts at the cut


def _segment(hit: Hit, record: FileRecord) -> tuple[float | None, float | None]:
    """The hit's segment in the file, snapped to the shot boundaries around it (see `media.shots.snap`). A said
    or subtitled line keeps its own times, which are exact: only its start moves back to a cut just before it."""
    start, end = hit.start, hit.end
    if start is not None and end is not None and record.shots:
        if hit.text is not None and hit.text["source"] != "ocr":
            start = snap(start, end, record.shots, reach=LINE_REACH)[0]
        else:
            start, end = snap(start, end, record.shots)
    return start, None if end is None else min(end, record.duration or hit.frame)


def check_sort(query: Query) -> None:
    if query.sort not in SORTS:
        raise InputError(None, f"sort is one of {', '.join(SORTS)}", field="sort")


def results_page(query: Query, results: list[Result], cutoff: float | None = None) -> Page:
    """The page of `query` out of ranked `results` (best first): sorted by date if asked, then cut."""
    if query.sort != "relevance":  # by date, the weak results after the others
        results = sorted(results, key=lambda r: (r.date or 0.0, r.file_id), reverse=query.sort == "newest")
        results.sort(key=lambda r: r.weak)
    end = query.offset + query.top
    return Page(results[query.offset : end], query.offset, end if len(results) > end else None, cutoff)


def _merge(vectors: Vectors, vector: np.ndarray, found: Found) -> list[Hit]:
    """One hit per image; one per matching segment for videos (all of the video's frames rescored)."""
    firsts: list[tuple[int, float | None]] = []  # each content at its best row: an image's score, None for a video
    done: set[int] = set()
    rows = zip(found.content_ids.tolist(), found.times.tolist(), found.scores.tolist(), strict=True)
    for content_id, frame_time, score in rows:
        if content_id not in done:
            done.add(content_id)
            firsts.append((content_id, score if math.isnan(frame_time) else None))
    videos = [content_id for content_id, score in firsts if score is None]
    frames = found.frames if found.frames is not None else vectors.frame_scores(vector, videos)
    hits: list[Hit] = []
    for content_id, score in firsts:
        if score is not None:
            hits.append(Hit(content_id, score))
        elif content_id in frames:
            hits += _segments(content_id, *frames[content_id])
    return sorted(hits, key=lambda h: -h.score)


def _segments(content_id: int, times: np.ndarray, scores: np.ndarray) -> list[Hit]:
    """The matching segments of a video from its frames' scores (times ascending)."""
    times = times.astype(float)
    best = scores.max()
    matching = scores >= best - min(SEGMENT_MARGIN, SEGMENT_SPREAD * (best - scores.min()))
    ends = np.append(times[1:], math.inf)  # a segment lasts until the next sampled frame
    return [
        Hit(
            content_id,
            float(scores[run].max()),
            float(times[run[0]]),
            float(ends[run[-1]]),
            float(times[run[int(np.argmax(scores[run]))]]),
        )
        for run in _runs(np.flatnonzero(matching))
    ]


def _runs(indices: np.ndarray) -> list[np.ndarray]:
    """Split sorted frame indices into runs of consecutive frames."""
    if len(indices) == 0:
        return []
    return np.split(indices, np.flatnonzero(np.diff(indices) > 1) + 1)


def _unlike(vectors: Vectors, negative: np.ndarray, hits: list[Hit]) -> list[Hit]:
    """The hits that match the query at least as well as the negative text (a video segment: its best frame)."""
    frames = vectors.frame_scores(negative, {h.content_id for h in hits})
    return [h for h in hits if h.content_id in frames and h.score >= _score(frames, h)]


def _score(frames: FrameScores, hit: Hit) -> float:
    times, scores = frames[hit.content_id]
    if hit.frame is not None:
        scores = scores[[int(np.argmin(np.abs(times - hit.frame)))]]
    return float(scores.max())


def _normalise(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32) if norm > 0 else v.astype(np.float32)
