"""Reciprocal-rank fusion of any number of rankings of one query (CLIP's and each text source's).

A result's fused score is the sum over the rankings that found it of 1 / (RRF_K + its rank there), so a file
any ranking puts high comes first, and one several rankings put high comes before each of them; a text find
whose line only partly matches (or only sounds like the query) counts that times its match score, so a line
sharing a few common characters with the query does not lift its file over CLIP's best match. A video
segment of one ranking joins an overlapping segment of another (the same moment, found twice).

Weak results: a fused result is weak only when every ranking that found it has it weak (a ranking's
strong match stays strong whatever the others think of it); weak results come after all the others, so
the ones above the divider are those some ranking is sure of.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from .query import Result

RRF_K = 60


def fuse(rankings: Sequence[Sequence[Result]], top: int) -> list[Result]:
    """The first `top` results of the fused `rankings` (each best first). On equal scores a result found by
    the words in it comes first (the first results of two rankings tie at 1 / 61)."""
    fused: list[tuple[float, bool, Result]] = []  # (fused score, fused weakness, the result shown)
    places: dict[int, list[int]] = {}  # file id -> its entries in `fused` (a video: one per segment)
    for ranking in rankings:
        for rank, result in enumerate(ranking, 1):
            gain = _weight(result) / (RRF_K + rank)
            entries = places.setdefault(result.file_id, [])
            place = next((i for i in entries if same_moment(fused[i][2], result)), None)
            if place is None:
                entries.append(len(fused))
                fused.append((gain, result.weak, result))
            else:
                score, weak, seen = fused[place]
                fused[place] = (score + gain, weak and result.weak, _shown(seen, result))
    fused.sort(key=lambda entry: (entry[1], -entry[0], entry[2].text is None))
    return [replace(result, score=score, weak=weak) for score, weak, result in fused[:top]]


def _weight(result: Result) -> float:
    """How much a find counts: a text find by its match score where that is under 1 (partial, same sound)."""
    return result.score if result.text is not None and result.score < 1 else 1.0


def same_moment(a: Result, b: Result) -> bool:
    """Whether two results of one file are the same find: an image, or video segments that overlap."""
    if a.file_id != b.file_id:
        return False
    if a.kind != "video" or a.start is None or b.start is None:
        return True
    a_end = a.end if a.end is not None else math.inf
    b_end = b.end if b.end is not None else math.inf
    return a.start < b_end and b.start < a_end


def _shown(seen: Result, other: Result) -> Result:
    """Which of two finds of one moment a fused result shows: one with a text line wherever a ranking found one
    (its segment is where the text is), a strong match's line before a weak one's, else the one seen first."""
    return min((seen, other), key=lambda r: (r.text is None, r.weak))
