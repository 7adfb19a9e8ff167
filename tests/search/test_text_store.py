"""The text store (search/text): schema 3 and its migration, normalised keys, same-sound matching, sources."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from zhclip.search import DecodeError, Filters, LibraryError, Query, Reader, Store
from zhclip.search.ranking import default_match, page, search
from zhclip.search.store import MIGRATIONS
from zhclip.search.text.lines import TextLine, content_lines, find_lines, save_lines, text_counts
from zhclip.search.text.normalize import key, sound
from zhclip.search.text.reading import PooledReader

from .media import solid, video

BOX = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.2], [0.1, 0.2]]


def _schema_2_library(db) -> None:
    """A library as zhclip wrote it before the text store: OCR lines of a photo and a video, one unreadable."""
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[1] + MIGRATIONS[2] + "PRAGMA user_version = 2; PRAGMA application_id = 2053661548;")
    for n, (kind, path) in enumerate([("image", "/lib/ticket.jpg"), ("video", "/lib/talk.mp4"), ("image", "/x.jpg")]):
        conn.execute("INSERT INTO contents(id, hash, kind) VALUES (?, ?, ?)", (n + 1, f"h{n}", kind))
        conn.execute(
            "INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES (?, 1, 1, ?, 0)", (path, n + 1)
        )
    lines = [(1, None, "登機牌 北京南站"), (2, 4.0, "會議紀要"), (2, 6.0, "會議紀要")]
    for content_id, t, text in lines:
        conn.execute(
            "INSERT INTO ocr_lines(content_id, t, text, key, chars, box, confidence) VALUES (?, ?, ?, ?, ?, ?, 0.9)",
            (content_id, t, text, "".join(text.split()).lower(), " ".join(text), json.dumps(BOX)),
        )
    conn.executemany("INSERT INTO ocr_contents(content_id, error) VALUES (?, ?)", [(1, None), (2, None), (3, "bad")])
    conn.commit()
    conn.close()


def test_a_schema_2_ocr_library_is_migrated_keeps_its_lines_and_finds_them(tmp_path):
    db = tmp_path / "old.db"
    _schema_2_library(db)
    reader = Reader(db)  # opening it brings it up to date
    conn = reader.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert not tables & {"ocr_lines", "ocr_contents", "ocr_fts", "ocr_chars"}
    hits = find_lines(conn, "ocr", "北京南站", Filters())  # the Simplified query finds the Traditional line
    assert [(h.content_id, h.line.text, h.line.box, h.score, h.span) for h in hits] == [
        (1, "登機牌 北京南站", BOX, 1.0, (4, 8))
    ]
    assert [h.line.start for h in find_lines(conn, "ocr", "会议纪要", Filters())] == [4.0, 6.0]
    assert text_counts(conn)["ocr"] == {"contents": 3, "unreadable": 1, "contents_with_text": 2, "lines": 3, "times": 2}
    assert reader.counts()["files"] == 3
    store = Store(db)
    with store.transaction():  # contents were rebuilt: foreign keys still cascade to the text and the vectors
        store.remove_files(["/lib/ticket.jpg"])
        store.conn.execute("INSERT INTO contents(hash, kind) VALUES ('a', 'audio')")
    assert find_lines(conn, "ocr", "北京南站", Filters()) == []
    assert conn.execute("SELECT count(*) FROM text_fts WHERE text_fts MATCH '\"北京南\"'").fetchone()[0] == 0
    store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我們明天去北京！", "我们明天去北京"),  # Traditional -> Simplified, punctuation dropped
        ("ＦａｓｔＡＰＩ　文檔１２３", "fastapi文档123"),  # full-width letters, digits and space
        ("價格：¥12", "价格¥12"),  # symbols stay
        ("“會議” 紀要，第三次。", "会议纪要第三次"),
    ],
)
def test_keys_are_simplified_half_width_lower_case_without_punctuation(text, expected):
    assert key(text) == expected


def test_sounds_are_toneless_pinyin_syllables():
    assert sound("我們去北京！") == "wo men qu bei jing"
    assert sound("綠色 FastAPI 12") == "lv se fastapi12"


@pytest.fixture
def speech_library(tmp_path):
    store = Store(tmp_path / "lib.db")
    with store.transaction():
        for n, (path, said) in enumerate(
            [("/talk.mp4", ["我们明天去背景", "周末一起去爬山"]), ("/ad.mp4", ["北京烤鸭"])]
        ):
            content = store.conn.execute("INSERT INTO contents(hash, kind) VALUES (?, 'video')", (f"h{n}",)).lastrowid
            store.conn.execute(
                "INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES (?, 1, 1, ?, 0)",
                (path, content),
            )
            lines = [TextLine(text, 2.0 * i, 2.0 * i + 1.5, 0.8) for i, text in enumerate(said)]
            save_lines(store.conn, content, "speech", lines)
    yield store
    store.close()


def test_same_sound_lines_come_after_exact_ones_and_only_when_asked(speech_library):
    conn = speech_library.conn
    assert [h.line.text for h in find_lines(conn, "speech", "北京", Filters())] == ["北京烤鸭"]
    hits = find_lines(conn, "speech", "北京", Filters(), same_sound=True)  # 背景 bei jing: heard for 北京
    assert [(h.line.text, h.score, h.span) for h in hits] == [
        ("北京烤鸭", 1.0, (0, 2)),
        ("我们明天去背景", 0.95, (5, 7)),
    ]
    assert (hits[1].line.start, hits[1].line.end) == (0.0, 1.5)
    assert find_lines(conn, "ocr", "北京", Filters(), same_sound=True) == [], "each source finds its own lines"
    assert find_lines(conn, "speech", "北京", Filters(path_contains="talk")) == []


def test_a_traditional_query_finds_a_simplified_line_and_lines_are_replaced_per_source(speech_library):
    conn = speech_library.conn
    assert [h.line.text for h in find_lines(conn, "speech", "週末一起去爬山！", Filters())] == ["周末一起去爬山"]
    with speech_library.transaction():
        save_lines(conn, 1, "subtitles", [TextLine("周末見", 0.5, 1.0)], signature="talk.srt 12 1")
        save_lines(conn, 1, "speech", [TextLine("周末一起去爬山坡", 2.0, 3.5)])
    assert [(s, line.text) for s, line in content_lines(conn, 1)] == [
        ("speech", "周末一起去爬山坡"),
        ("subtitles", "周末見"),
    ]
    counts = text_counts(conn)
    assert counts["speech"]["lines"] == 2 and counts["subtitles"]["contents_with_text"] == 1


@pytest.fixture
def talk(tmp_path, index, searcher):
    """A library of a video (8 s) and a photo; the video's speech (on) and subtitles written as their readers
    would."""
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    video(lib / "talk.mp4", ["blue", "green", "green", "red"], seconds_each=2.0)
    solid(lib / "sky.png", "blue")
    index(db, lib)
    store = Store(db)
    with store.transaction():
        store.set_meta(replace(store.meta(), speech=True, speech_model="base"))
        content = store.conn.execute("SELECT id FROM contents WHERE kind = 'video'").fetchone()[0]
        said = [TextLine("大家好", 0.2, 1.4, 0.9), TextLine("我们明天去背景开会", 2.1, 4.6, 0.8)]
        save_lines(store.conn, content, "speech", said)
        save_lines(store.conn, content, "subtitles", [TextLine("我們明天去北京開會", 2.0, 4.8)], signature="talk.srt")
    store.close()
    return searcher(db)


def test_speech_and_subtitle_hits_are_their_lines_spans_with_the_line(talk):
    found = search(talk, Query(text="北京开会"), "subtitles")
    # the line is shown at 2.0-4.8 s: its segment is the line's, exact (not the whole green shot, 2-6 s)
    assert [(Path(r.path).name, r.start, r.end, r.weak) for r in found] == [("talk.mp4", 2.0, 4.8, False)]
    assert found[0].text == {
        "source": "subtitles",
        "line": "我們明天去北京開會",
        "start": 2.0,
        "end": 4.8,
        "box": None,
        "span": [5, 9],
    }
    assert found[0].ocr is None
    heard = search(talk, Query(text="北京开会"), "speech")  # the model heard 背景 for 北京: the same sound
    assert [(r.start, r.end, r.weak, r.text["line"], r.text["span"], r.text["start"]) for r in heard] == [
        (2.0, 4.6, True, "我们明天去背景开会", [5, 9], 2.1)  # the line at 2.1-4.6 s starts at the cut 0.1 s before
    ]
    assert search(talk, Query(text="大家好"), "speech")[0].text["start"] == 0.2


def test_text_and_hybrid_fuse_every_source_the_library_has(talk):
    reader = talk.library.reader
    assert default_match(reader) == "hybrid"
    both = search(talk, Query(text="北京开会", top=5), "text")
    assert [(r.start, r.end, r.text["source"]) for r in both] == [(2.0, 4.8, "subtitles")], "one moment, found twice"
    fused = search(talk, Query(text="北京开会", top=5))
    assert fused[0].text["source"] == "subtitles" and {Path(r.path).name for r in fused} == {"talk.mp4", "sky.png"}
    with pytest.raises(LibraryError, match="--ocr"):
        page(talk, Query(text="北京"), "ocr")


def test_modes_of_sources_a_library_lacks_say_how_to_add_them(tmp_path, index, searcher):
    solid(tmp_path / "lib" / "a.png", "red")
    index(tmp_path / "lib.db", tmp_path / "lib")
    s = searcher(tmp_path / "lib.db")
    with pytest.raises(LibraryError, match=r"--speech`? \(needs pip install 'zhclip\[speech\]'\)"):
        page(s, Query(text="北京"), "speech")
    with pytest.raises(LibraryError, match=r"NAME\.srt"):
        page(s, Query(text="北京"), "subtitles")
    with pytest.raises(LibraryError, match="--ocr"):
        page(s, Query(text="北京"), "text")
    assert default_match(s.library.reader) == "clip"


@pytest.mark.parametrize(
    ("query", "line"),
    [
        ("１２３", "房间123号"),  # full-width digits
        ("ＷＩＦＩ密碼", "wifi密码：8888"),  # full-width letters, Traditional, case
        ("北京，南站！", "北京南站 出口"),  # punctuation and spaces in the query
        ("“出口”", "北京南站 出口"),  # 2 characters once the quotes go: the single-character index
    ],
)
def test_queries_are_normalised_as_lines_are(tmp_path, query, line):
    store = Store(tmp_path / "lib.db")
    with store.transaction():
        content = store.conn.execute("INSERT INTO contents(hash, kind) VALUES ('h', 'image')").lastrowid
        save_lines(store.conn, content, "ocr", [TextLine(line, box=BOX)])
    hits = find_lines(store.conn, "ocr", query, Filters())
    assert [(h.line.text, h.score) for h in hits] == [(line, 1.0)]
    store.close()


def test_search_prints_the_source_time_and_line(capsys):
    from zhclip.cli.search import print_results
    from zhclip.search.query import Result

    said = {"source": "speech", "line": "我们明天去北京", "start": 62.5, "end": 65.0, "box": None, "span": [5, 7]}
    print_results([Result(1, "/v/talk.mp4", "video", 0.95, 62.5, 65.0, text=said, weak=True)], False)
    out = capsys.readouterr().out
    assert "/v/talk.mp4  [01:02.5-01:05.0]  speech 01:02.5 「我们明天去北京」" in out and "weaker matches" in out


class FakeSpeech(PooledReader):
    """A reader of videos only, as speech is: one line per video, none for a video called silent*."""

    source, label, kinds = "speech", "speech", ("video",)
    paths: list[str] = []

    def read_lines(self, path: str, kind: str) -> list[TextLine]:
        type(self).paths.append(Path(path).name)
        if Path(path).name.startswith("mute"):
            raise DecodeError(path, "no audio stream")
        return [TextLine("大家好", 0.5, 1.5, 0.9)]


def test_a_reader_added_to_the_indexer_reads_its_kinds_once_and_saves_with_the_content(
    tmp_path, index, monkeypatch, caplog
):
    from zhclip.search import indexer

    monkeypatch.setattr(indexer, "_start_readers", lambda store, options, ocr_engine: [FakeSpeech(store, 1)])
    FakeSpeech.paths = []
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    video(lib / "talk.mp4", ["blue", "green"], seconds_each=1.0)
    video(lib / "mute.mp4", ["red", "green"], seconds_each=1.0)
    solid(lib / "sky.png", "blue")
    with caplog.at_level("WARNING", "zhclip.search"):
        first = index(db, lib)
    assert sorted(FakeSpeech.paths) == ["mute.mp4", "talk.mp4"], "images are not its kind"
    assert first.text_read == {"speech": (2, 1)} and "speech read 2 contents (1 unreadable)" in first.line()
    assert f"speech could not read {lib / 'mute.mp4'}: no audio stream" in caplog.text
    reader = Reader(db)
    assert reader.counts()["files"] == 3
    talk = reader.file_by_path(str(lib / "talk.mp4")).content_id
    assert content_lines(reader.conn, talk) == [("speech", TextLine("大家好", 0.5, 1.5, 0.9))]
    again = index(db, lib)
    assert (again.unchanged, again.text_read, len(FakeSpeech.paths)) == (3, {"speech": (0, 0)}, 2), "read once"


def test_an_old_library_on_read_only_storage_is_searched_by_clip_and_says_how_to_search_its_text(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    _schema_2_library(db)
    monkeypatch.setattr("zhclip.search.store.read_only_storage", lambda path: True)
    reader = Reader(db)
    assert reader.version == 2 and reader.counts()["files"] == 3, "read as it is, nothing written"
    from zhclip.search.ocr.source import SOURCE

    assert not SOURCE.present(reader)
    assert "upgraded it in a writable folder" in SOURCE.absent(reader).reason
