"""Speech as a text source (see `search.sources`): one hit per speech segment that holds the query (its
start..end), then segments that sound like it (weak), then those holding part of it (weak)."""

from __future__ import annotations

from ..text.source import LineSource

SOURCE = LineSource(
    "speech",
    "speech text; transcribe it with `zhclip index FOLDER --db LIBRARY --speech` (needs pip install 'zhclip[speech]')",
    setting="speech",
    same_sound=True,
)
