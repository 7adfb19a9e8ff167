"""Subtitles as a text source (see `search.sources`): one hit per cue that holds the query (its start..end),
then cues holding part of it (weak). Always on: a library has them once a video of it has any."""

from __future__ import annotations

from ..text.source import LineSource

SOURCE = LineSource(
    "subtitles",
    "subtitles; put NAME.srt (.ass, .ssa, .vtt) beside a video, or index videos with subtitle tracks, and run "
    "`zhclip index` again",
)
