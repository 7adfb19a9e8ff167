"""Text found in media, as sources a query can be ranked by: OCR, speech, subtitles.

A source is a module holding a `SOURCE` that follows `TextSource` (those of the text store are instances of
`search.text.source.LineSource`); `SOURCES` names each one's module, so adding a source is one new module and
one line here. `search.ranking` ranks a query by one source alone
(`--match NAME`) or fuses CLIP's ranking with those of every source a library has (`--match hybrid`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Protocol

from .errors import LibraryError
from .query import Hit, Query
from .stores import AnyReader

SOURCES = {  # name (its --match mode) -> the module holding its SOURCE
    "ocr": "zhclip.search.ocr.source",
    "speech": "zhclip.search.speech.source",
    "subtitles": "zhclip.search.subtitles.source",
}


class TextSource(Protocol):
    name: str

    def present(self, reader: AnyReader) -> bool:
        """Whether the library holds this source's text."""
        ...

    def absent(self, reader: AnyReader) -> LibraryError:
        """The error for a library without this source's text, saying how to add it."""
        ...

    def hits(self, reader: AnyReader, query: Query) -> list[Hit]:
        """Contents (video segments) whose text holds `query.text`, best first, `weak` where the match is
        partial; `query.filters` and `query.negative` apply; its `offset + top` first are wanted. Each hit
        carries its matched line in `Hit.text`."""
        ...


def text_source(name: str) -> TextSource:
    return import_module(SOURCES[name]).SOURCE


def text_sources() -> list[TextSource]:
    return [text_source(name) for name in SOURCES]
