"""One text source (see `search.sources`) for the lines of any source in the text store: OCR, speech, subtitles.

Files whose lines hold the query come first (exact phrase), then, for a source matched by sound, those whose
lines sound like it, then those whose lines hold part of it. One hit per image; for a video or an audio file,
one hit per line (a speech segment's or a subtitle cue's start..end), or for lines read in sampled frames (OCR)
one per run of consecutive frames showing the text (the segment it is on screen). A partial or same-sound match
is weak, an exact one never is.
"""

from __future__ import annotations

import math
from collections import defaultdict

from ..errors import LibraryError
from ..query import Hit, Query
from ..store import TEXT_STORE_VERSION
from ..stores import AnyReader
from .lines import LineHit


class LineSource:
    """The `TextSource` of one source's lines (`name`: 'ocr', 'speech' or 'subtitles', also its --match mode)."""

    def __init__(self, name: str, how_to_add: str, setting: str | None = None, same_sound=False, in_frames=False):
        """`how_to_add`: what a library without this text is told; `setting`: the `LibraryMeta` flag that says
        the library reads this text (None: it has it when it holds a line of it); `same_sound`: lines that sound
        like the query are found too; `in_frames`: lines read in sampled video frames (OCR), whose results keep
        their `ocr` field."""
        self.name = name
        self.how_to_add = how_to_add
        self.setting = setting
        self.same_sound = same_sound
        self.in_frames = in_frames

    def present(self, reader: AnyReader) -> bool:
        if reader.version < TEXT_STORE_VERSION:
            return False
        if self.setting is not None:
            return bool(getattr(reader.meta(), self.setting))
        return reader.has_lines(self.name)

    def absent(self, reader: AnyReader) -> LibraryError:
        if reader.version < TEXT_STORE_VERSION:
            return LibraryError(
                reader.path,
                "this library was made by an older zhclip and is on read-only storage: its text can be searched "
                "once `zhclip index` has upgraded it in a writable folder; or search with --match clip",
            )
        return LibraryError(reader.path, f"this library has no {self.how_to_add}, or search with --match clip")

    def hits(self, reader: AnyReader, query: Query) -> list[Hit]:
        """Contents (segments) whose lines hold `query.text`, best first; those whose lines hold `query.negative`
        are left out."""
        wanted = query.offset + query.top
        lines = reader.find_lines(self.name, query.text, query.filters, max(200, 20 * wanted), self.same_sound)
        if query.negative:
            unwanted = {
                h.content_id for h in reader.find_lines(self.name, query.negative, query.filters) if h.score == 1
            }
            lines = [h for h in lines if h.content_id not in unwanted]
        by_content: dict[int, list[LineHit]] = defaultdict(list)
        for line in lines:
            by_content[line.content_id].append(line)
        hits: list[Hit] = []
        for content_id, found in by_content.items():
            if found[0].line.start is None:
                hits.append(self._hit(max(found, key=_strength)))
            elif self.in_frames:
                hits += self._frame_runs(found, reader.frame_times(content_id))
            else:
                hits += [self._hit(line, line.line.start, line.line.end) for line in found]
        hits.sort(key=lambda h: -h.score)
        return hits

    def _hit(self, line: LineHit, start: float | None = None, end: float | None = None) -> Hit:
        ocr = line.ocr() if self.in_frames else None
        return Hit(
            line.content_id,
            line.score,
            start,
            end,
            frame=line.line.start,
            ocr=ocr,
            text=line.text(),
            weak=line.score < 1,
        )

    def _frame_runs(self, lines: list[LineHit], times: list[float]) -> list[Hit]:
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
            hits.append(self._hit(best, run[0], end))
        return hits


def _strength(line: LineHit) -> tuple[float, float]:
    return (line.score, line.line.confidence)
