"""Subtitle files for test media: cues written as SRT, ASS, SSA or WebVTT (by the file's suffix) in a chosen
encoding, as people's sidecar files come (UTF-8 with or without a BOM, GB18030, UTF-16).

    write_subtitles("clip.chs.ass", [Cue(0.3, 3.7, "一个红色的圆形")], encoding="gb18030")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ...media.subtitles import Cue


def write_subtitles(path: str | Path, cues: Iterable[Cue], encoding: str = "utf-8") -> Path:
    """`cues` (seconds) written to `path` in the format its last suffix names (.srt .ass .ssa .vtt)."""
    import pysubs2

    subtitles = pysubs2.SSAFile()
    for cue in cues:
        subtitles.append(pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000), text=cue.text))
    path = Path(path)
    subtitles.save(str(path), encoding=encoding, format_=path.suffix.lower().lstrip("."))
    return path
