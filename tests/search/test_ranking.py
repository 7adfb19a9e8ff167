"""Match modes and text sources: a new source is one module that every mode picks up."""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path

import pytest

from zhclip.cli import build_parser
from zhclip.search import Hit, Query, ranking, sources
from zhclip.search.errors import LibraryError
from zhclip.web.params import Match

from .media import solid


class Subtitles:
    """A text source that finds blue.png by its whole text and green.png by part of it."""

    name = "subtitles"

    def __init__(self, contents: dict[str, int]):
        self.contents = contents

    def present(self, reader) -> bool:
        return True

    def absent(self, reader) -> LibraryError:
        return LibraryError(reader.path, "no subtitles")

    def hits(self, reader, query: Query) -> list[Hit]:
        return [Hit(self.contents["blue.png"], 1.0), Hit(self.contents["green.png"], 0.5, weak=True)]


@pytest.fixture
def subtitled(tmp_path, index, searcher, monkeypatch):
    """A library without OCR, and a subtitles source registered the way a new source module would be."""
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for color in ("red", "blue", "green", "yellow"):
        solid(lib / f"{color}.png", color)
    index(db, lib)
    s = searcher(db)
    contents = {name: s.library.reader.file_by_path(str(lib / name)).content_id for name in ("blue.png", "green.png")}
    module = types.ModuleType("subtitles_source")
    module.SOURCE = Subtitles(contents)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(sources.SOURCES, "subtitles", module.__name__)
    monkeypatch.setattr(ranking, "MATCHES", ("clip", *sources.SOURCES, "hybrid"))
    return s


def test_hybrid_fuses_clip_with_every_text_source_the_library_has(subtitled):
    assert ranking.default_match(subtitled.library.reader) == "hybrid"
    fused = {Path(r.path).name: r.score for r in ranking.search(subtitled, Query(text="蓝色的天空", top=4))}
    clip = [Path(r.path).name for r in subtitled.search(Query(text="蓝色的天空", top=4))]
    expected = {name: 1 / (61 + rank) for rank, name in enumerate(clip)}
    expected["blue.png"] += 1 / 61
    expected["green.png"] += 1 / 62
    assert fused == pytest.approx(expected)
    alone = ranking.page(subtitled, Query(text="蓝色的天空"), "subtitles").results
    assert [(Path(r.path).name, r.weak) for r in alone] == [("blue.png", False), ("green.png", True)]
    exact = ranking.page(subtitled, Query(text="蓝色的天空", min_score=-1), "subtitles").results
    assert not any(r.weak for r in exact), "an explicit min_score marks nothing weak"


def test_a_mode_of_a_source_the_library_lacks_says_how_to_add_it(subtitled):
    with pytest.raises(LibraryError, match="--ocr"):
        ranking.page(subtitled, Query(text="发票"), "ocr")


def test_the_cli_and_the_api_offer_every_match_mode():
    parser = build_parser("search")
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    match = next(a for a in subcommands.choices["search"]._actions if a.dest == "match")
    assert tuple(match.choices) == ranking.MATCHES == typing.get_args(Match)
