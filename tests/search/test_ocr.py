"""OCR beside CLIP: storage and full-text lookup, the indexing step, `--match`, and the bad inputs of issue 13.

Most tests use a fake engine (text chosen by the image's colour) so they run fast and exactly; the tests
in tests/search/test_ocr_engine.py read rendered Noto CJK text with the real engine.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from zhclip.errors import InputError, MissingExtraError
from zhclip.search import Filters, LibraryError, Query, Reader, Store
from zhclip.search.fusion import fuse
from zhclip.search.ocr import ENGINE_NAME, OcrLine
from zhclip.search.ocr.lines import FrameLines, save_ocr
from zhclip.search.ranking import page, search
from zhclip.search.store import MIGRATIONS
from zhclip.search.text.lines import find_lines

from .media import COLORS, photo, solid, video

TEXT_BY_COLOR = {"red": "增值税普通发票", "blue": "登机牌 北京南站", "green": "会议纪要", "yellow": "FastAPI 文档"}


class FakeEngine:
    """Reads TEXT_BY_COLOR[colour] in a solid image of that colour, nothing elsewhere; counts its calls."""

    calls = 0
    fail_on: str | None = None  # a colour whose images make the engine raise

    def __init__(self, options=None):
        from zhclip.search.ocr import OcrOptions

        self.options = options or OcrOptions()

    def read(self, image: np.ndarray) -> list[OcrLine]:
        type(self).calls += 1
        mean = tuple(image.reshape(-1, 3).mean(axis=0))
        for name, rgb in COLORS.items():
            if np.abs(np.subtract(mean, rgb)).max() < 12:
                if name == self.fail_on:
                    raise RuntimeError("engine fell over")
                return [OcrLine(TEXT_BY_COLOR[name], ((10, 10), (90, 10), (90, 30), (10, 30)), 0.97)]
        return []


@pytest.fixture
def fake_engine(monkeypatch):
    FakeEngine.calls, FakeEngine.fail_on = 0, None
    monkeypatch.setattr("zhclip.search.indexer.OcrEngine", FakeEngine)
    return FakeEngine


def _content(store: Store, n: int) -> int:
    content = store.conn.execute("INSERT INTO contents(hash, kind) VALUES (?, 'image')", (f"{n:032x}",)).lastrowid
    store.conn.execute(
        "INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES (?, 1, 1, ?, 0)",
        (f"/p/{n}.jpg", content),
    )
    return content


def _lines(*texts: str) -> list[FrameLines]:
    return [FrameLines(None, [OcrLine(t, ((0, 0), (50, 0), (50, 10), (0, 10)), 0.9) for t in texts], 100, 50)]


# ------------------------------------------------------------------ storage and lookup


@pytest.fixture
def text_library(tmp_path):
    store = Store(tmp_path / "lib.db")
    texts = ["增值税普通发票", "登机牌", "北京南站 出口", "会议纪要第三次", "Hello World", "发"]
    with store.transaction():
        for n, text in enumerate(texts):
            save_ocr(store, _content(store, n), _lines(text), None)
    yield store
    store.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("发", {"增值税普通发票", "发"}),  # 1 character: the instr fallback
        ("出口", {"北京南站 出口"}),  # 2 characters
        ("南站出", {"北京南站 出口"}),  # 3+ characters: the trigram index, whitespace in the line ignored
        ("普通发票", {"增值税普通发票"}),
        ("hello wor", {"Hello World"}),  # case and spaces do not matter
        ("登机牌", {"登机牌"}),
    ],
)
def test_exact_matches_for_queries_of_every_length(text_library, query, expected):
    hits = find_lines(text_library.conn, "ocr", query, Filters())
    assert {h.line.text for h in hits if h.score == 1.0} == expected
    for hit in hits:
        if hit.score == 1.0:
            assert "".join(hit.line.text[hit.span[0] : hit.span[1]].split()).lower() == "".join(query.split()).lower()


def test_queries_of_punctuation_alone_and_three_characters_with_one_misread(text_library):
    with text_library.transaction():
        save_ocr(text_library, _content(text_library, 99), _lines("价格：¥12.5"), None)
    assert [h.line.text for h in find_lines(text_library.conn, "ocr", "：¥", Filters())] == [
        "价格：¥12.5"
    ]  # no token: scanned
    hits = find_lines(
        text_library.conn, "ocr", "登机票", Filters()
    )  # 登机牌 misread as 登机票: the bigram 登机 still holds
    assert [h.line.text for h in hits] == ["登机牌"] and 0 < hits[0].score < 1


@pytest.mark.parametrize(
    ("text", "confidence", "kept"),
    [("发票", 0.95, True), ("口", 0.99, False), ("★K", 0.81, False), ("A4", 0.9, True), ("发票", 0.6, False)],
)
def test_noise_lines_are_dropped(text, confidence, kept):
    from zhclip.search.ocr import OcrOptions
    from zhclip.search.ocr.engine import is_text

    assert is_text(OcrLine(text, ((0, 0),) * 4, confidence), OcrOptions()) is kept


def test_partial_matches_come_after_exact_ones(text_library):
    hits = find_lines(text_library.conn, "ocr", "会议纪耍", Filters())  # one misread character
    assert [h.line.text for h in hits] == ["会议纪要第三次"] and 0 < hits[0].score < 1
    assert hits[0].span == (0, 3)
    hits = find_lines(text_library.conn, "ocr", "普通发", Filters())
    assert hits[0].line.text == "增值税普通发票" and hits[0].score == 1.0
    assert all(h.score < 1 for h in hits[1:])


def test_deleting_a_content_removes_its_lines_from_the_full_text_index(text_library):
    with text_library.transaction():
        text_library.remove_files(["/p/0.jpg"])
    assert find_lines(text_library.conn, "ocr", "普通发票", Filters()) == []
    assert (
        text_library.conn.execute("SELECT count(*) FROM text_fts WHERE text_fts MATCH '\"普通发\"'").fetchone()[0] == 0
    )


def test_a_schema_1_library_is_migrated_and_keeps_its_files(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[1] + "PRAGMA user_version = 1; PRAGMA application_id = 2053661548;")
    conn.execute("INSERT INTO contents(hash, kind) VALUES ('h', 'image')")
    conn.execute("INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES ('/a.jpg', 1, 1, 1, 0)")
    conn.commit()
    conn.close()
    store = Store(db)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 3
    with store.transaction():
        save_ocr(store, 1, _lines("火车票"), None)
    assert [h.line.text for h in find_lines(store.conn, "ocr", "火车", Filters())] == ["火车票"]
    assert Reader(db).counts()["files"] == 1


# ------------------------------------------------------------------ indexing


def test_ocr_reads_each_content_once_and_copies_and_renames_reuse_it(tmp_path, index, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    solid(lib / "invoice.png", "red")
    solid(lib / "ticket.png", "blue")
    photo(lib / "holiday.jpg", 1)
    (lib / "invoice_copy.png").write_bytes((lib / "invoice.png").read_bytes())
    first = index(db, lib, ocr=True)
    assert (first.new, first.ocr_read, fake_engine.calls) == (4, 3, 3)
    reader = Reader(db)
    assert reader.meta().ocr and reader.meta().ocr_engine == ENGINE_NAME
    os.rename(lib / "ticket.png", lib / "boarding.png")
    again = index(db, lib)  # OCR stays on: the library remembers
    assert again.ocr and again.ocr_read == 0 and fake_engine.calls == 3
    hits = find_lines(reader.conn, "ocr", "登机牌", Filters())
    assert [Path(f.path).name for f in reader.files_of([h.content_id for h in hits])] == ["boarding.png"]
    off = index(db, lib, ocr=False)
    assert not off.ocr and not reader.meta().ocr


def test_turning_ocr_on_later_reads_the_contents_already_indexed(tmp_path, index, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    solid(lib / "a.png", "red")
    solid(lib / "b.png", "green")
    assert index(db, lib).ocr_read == 0 and fake_engine.calls == 0
    later = index(db, lib, ocr=True)
    assert (later.new, later.updated, later.unchanged, later.ocr_read) == (0, 0, 2, 2)
    assert [h.line.text for h in find_lines(Reader(db).conn, "ocr", "纪要", Filters())] == ["会议纪要"]


def test_a_killed_ocr_run_keeps_what_it_committed_and_the_next_run_finishes(tmp_path, index, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for i, colour in enumerate(["red", "blue", "green", "yellow"]):
        solid(lib / f"{i}.png", colour)

    class Killed(BaseException):
        pass

    real_read = FakeEngine.read

    def dies_on_the_third(self, image):
        if type(self).calls == 2:
            raise Killed
        return real_read(self, image)

    FakeEngine.read = dies_on_the_third
    try:
        with pytest.raises(Killed):
            index(db, lib, ocr=True, workers=1)
    finally:
        FakeEngine.read = real_read
    conn = sqlite3.connect(db)
    contents = conn.execute("SELECT count(*) FROM contents").fetchone()[0]
    read = conn.execute("SELECT count(*) FROM text_contents").fetchone()[0]
    assert contents == read < 4, "a content and what OCR read in it are committed together"
    calls = fake_engine.calls
    rest = index(db, lib)
    assert rest.new == 4 - contents and rest.ocr_read == 4 - contents and fake_engine.calls == calls + 4 - contents
    assert conn.execute("SELECT count(*) FROM text_contents").fetchone()[0] == 4


def test_an_image_ocr_cannot_read_is_still_indexed_for_clip(tmp_path, index, fake_engine, caplog):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    solid(lib / "cursed.png", "red")
    solid(lib / "fine.png", "blue")
    fake_engine.fail_on = "red"
    with caplog.at_level(logging.WARNING, "zhclip.search"):
        summary = index(db, lib, ocr=True)
    assert (summary.new, summary.failed, summary.ocr_read, summary.ocr_failed) == (2, [], 2, 1)
    assert f"OCR could not read {lib / 'cursed.png'}: RuntimeError: engine fell over" in caplog.text
    assert Reader(db).counts()["vectors"] == 2
    errors = sqlite3.connect(db).execute("SELECT error FROM text_contents WHERE error IS NOT NULL").fetchall()
    assert errors == [("RuntimeError: engine fell over",)]
    assert index(db, lib).ocr_read == 0, "a content OCR failed on is not retried on every run"


def test_ocr_reads_beside_decoding_in_worker_processes(tmp_path, index, searcher, fake_engine):
    """OCR runs in threads of the indexing process, so it works with the CUDA path's decoding processes too."""
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    solid(lib / "invoice.png", "red")
    solid(lib / "meeting.png", "green")
    summary = index(db, lib, ocr=True, workers=2, decode_processes=True)
    assert (summary.new, summary.ocr_read, fake_engine.calls) == (2, 2, 2)
    assert [Path(r.path).name for r in search(searcher(db), Query(text="会议", top=5), "ocr")] == ["meeting.png"]


def test_ocr_without_the_package_names_the_extra_and_writes_nothing(tmp_path, index, monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # as if not installed
    solid(tmp_path / "lib" / "a.png", "red")
    with pytest.raises(MissingExtraError, match=r"zhclip\[ocr\]"):
        index(tmp_path / "lib.db", tmp_path / "lib", ocr=True)
    assert not (tmp_path / "lib.db").exists()


# ------------------------------------------------------------------ searching


def test_match_ocr_hybrid_and_clip(tmp_path, index, searcher, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    solid(lib / "invoice.png", "red")
    solid(lib / "meeting.png", "green")
    photo(lib / "holiday.jpg", 3)
    index(db, lib, ocr=True)
    s = searcher(db)
    found = search(s, Query(text="普通发票", top=5), "ocr")
    assert [Path(r.path).name for r in found] == ["invoice.png"]
    assert found[0].ocr["text"] == "增值税普通发票" and found[0].ocr["span"] == [3, 7]
    assert found[0].ocr["box"] == [[0.0625, 0.0833], [0.5625, 0.0833], [0.5625, 0.25], [0.0625, 0.25]]
    assert found[0].text == {
        "source": "ocr",
        "line": "增值税普通发票",
        "start": None,
        "end": None,
        "box": found[0].ocr["box"],
        "span": [3, 7],
    }
    fused = search(s, Query(text="普通发票", top=5))  # hybrid: the default for a library with OCR
    assert Path(fused[0].path).name == "invoice.png" and fused[0].ocr is not None
    assert {Path(r.path).name for r in fused} == {"invoice.png", "meeting.png", "holiday.jpg"}
    assert [r.path for r in search(s, Query(text="普通发票", top=5), "clip")] == [
        r.path for r in s.search(Query(text="普通发票", top=5))
    ]
    assert search(s, Query(text="发票", negative="增值税", top=5), "ocr") == []
    assert search(s, Query(text="发票", filters=Filters(path_contains="meeting"), top=5), "ocr") == []


def test_match_ocr_on_a_library_without_ocr_says_how_to_turn_it_on(tmp_path, index, searcher):
    solid(tmp_path / "lib" / "a.png", "red")
    index(tmp_path / "lib.db", tmp_path / "lib")
    s = searcher(tmp_path / "lib.db")
    with pytest.raises(LibraryError, match="--ocr"):
        search(s, Query(text="发票"), "ocr")
    assert len(search(s, Query(text="发票"))) == 1, "clip is the default without OCR"


def test_video_text_gives_the_segment_it_is_on_screen(tmp_path, index, searcher, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    video(lib / "talk.mp4", ["blue", "green", "green", "red"], seconds_each=2.0)  # frames at 0, 2, 4, 6 s
    index(db, lib, ocr=True, frame_interval=2.0)
    found = search(searcher(db), Query(text="会议纪要"), "ocr")
    assert [(r.start, r.end, r.ocr["text"], r.text["start"]) for r in found] == [(2.0, 6.0, "会议纪要", 2.0)]


def test_library_info_shows_the_ocr_state_and_what_it_read(tmp_path, index, fake_engine, capsys):
    from zhclip.cli import main

    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    video(lib / "talk.mp4", ["blue", "green", "green", "red"], seconds_each=2.0)  # 4 frames, text in each
    solid(lib / "invoice.png", "red")
    photo(lib / "holiday.jpg", 1)
    index(db, lib, frame_interval=2.0)
    assert main(["library", "info", "--db", str(db)]) == 0
    assert "ocr     off (zhclip index --ocr turns it on)" in capsys.readouterr().out
    index(db, lib, ocr=True, frame_interval=2.0)
    assert main(["library", "info", "--db", str(db), "--json"]) == 0
    ocr = json.loads(capsys.readouterr().out)["ocr"]
    assert ocr == {
        "on": True,
        "engine": ENGINE_NAME,
        "contents": 3,
        "unreadable": 0,
        "contents_with_text": 2,
        "video_frames_with_text": 4,
        "lines": 5,
    }
    assert main(["library", "info", "--db", str(db)]) == 0
    assert "ocr     on: read 3 contents (0 unreadable), text in 2 (4 video frames), 5 lines" in capsys.readouterr().out


def test_fusion_adds_the_reciprocal_ranks_of_both_rankings():
    from zhclip.search.query import Result

    a, b, c = (Result(i, f"/{i}.jpg", "image", 0.0) for i in (1, 2, 3))
    fused = fuse([[a, b], [b, c]], 3)
    assert [r.file_id for r in fused] == [2, 1, 3]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    read = Result(4, "/4.jpg", "image", 1.0, text={"source": "ocr", "line": "发票"})
    assert [r.file_id for r in fuse([[a], [read]], 2)] == [4, 1], "a tie goes to the result with the text"
    partly = replace(read, score=0.3)  # a line holding part of the query counts by its match score
    assert [r.file_id for r in fuse([[a, c], [partly]], 3)] == [1, 3, 4]
    assert fuse([[a, c], [partly]], 3)[2].score == pytest.approx(0.3 / 61)


def test_a_fused_result_is_weak_only_when_every_ranking_has_it_weak():
    from zhclip.search.query import Result

    strong, weak_there, weak_both = (Result(i, f"/{i}.jpg", "image", 0.0) for i in (1, 2, 3))
    clip = [replace(weak_both, weak=True), replace(weak_there, weak=True), strong]
    text = [weak_there, replace(weak_both, weak=True)]
    fused = fuse([clip, text], 3)
    assert [(r.file_id, r.weak) for r in fused] == [(2, False), (1, False), (3, True)], "weak ones come last"


def test_cli_search_match_ocr_json_and_the_no_ocr_message(tmp_path, index, cli, model_path, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    solid(lib / "ticket.png", "blue")
    index(db, lib, ocr=True)
    done = cli("search", "登机牌", "--db", db, "--match", "ocr", "--json", "--precision", "fp32")
    assert done.returncode == 0
    assert json.loads(done.stdout)[0]["ocr"]["text"] == "登机牌 北京南站"
    assert json.loads(done.stdout)[0]["text"]["line"] == "登机牌 北京南站"
    shown = cli("search", "北京南", "--db", db, "--match", "text", "--precision", "fp32")
    assert shown.returncode == 0 and "ticket.png  ocr 「登机牌 北京南站」" in shown.stdout
    index(tmp_path / "plain.db", lib)
    refused = cli("search", "登机牌", "--db", tmp_path / "plain.db", "--match", "ocr", "--precision", "fp32")
    assert refused.returncode == 2 and "--ocr" in refused.stderr and "Traceback" not in refused.stderr


def test_api_search_takes_match_and_returns_the_ocr_line(tmp_path, index, searcher, fake_engine):
    from fastapi.testclient import TestClient

    from zhclip.web import create_app

    solid(tmp_path / "lib" / "invoice.png", "red")
    index(tmp_path / "ocr.db", tmp_path / "lib", ocr=True)
    index(tmp_path / "plain.db", tmp_path / "lib")
    client = TestClient(create_app(searcher(tmp_path / "ocr.db")), base_url="http://127.0.0.1:5000")
    body = client.get("/api/search", params={"q": "发票", "match": "ocr"}).json()
    assert body["count"] == 1 and body["results"][0]["ocr"]["span"] == [5, 7]
    assert client.get("/api/search", params={"q": "发票", "match": "words"}).status_code == 422
    upload = {"image": ("q.png", (tmp_path / "lib" / "invoice.png").read_bytes(), "image/png")}
    by_image = client.post("/api/search/image", files=upload, data={"q": "发票", "match": "hybrid"}).json()
    assert by_image["results"][0]["ocr"]["text"] == "增值税普通发票"
    plain = TestClient(create_app(searcher(tmp_path / "plain.db")), base_url="http://127.0.0.1:5000")
    refused = plain.get("/api/search", params={"q": "发票", "match": "ocr"})
    assert refused.status_code == 409 and "--ocr" in refused.json()["error"]["message"]


def test_ocr_and_hybrid_results_page_and_sort_like_clip_results(tmp_path, index, searcher, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for name in ("a", "b", "c"):
        solid(lib / f"{name}.png", "red")  # three files of one content: three results of one OCR hit
        os.utime(lib / f"{name}.png", (0, {"a": 1e9, "b": 3e9, "c": 2e9}[name]))
    solid(lib / "meeting.png", "green")
    index(db, lib, ocr=True)
    s = searcher(db)
    first = page(s, Query(text="发票", top=2), "ocr")
    rest = page(s, Query(text="发票", top=2, offset=2), "ocr")
    assert (len(first.results), first.next_offset, len(rest.results), rest.next_offset) == (2, 2, 1, None)
    assert {r.path for r in first.results + rest.results} == {str(lib / f"{n}.png") for n in "abc"}
    newest = page(s, Query(text="发票", top=5, sort="newest"), "ocr").results
    assert [Path(r.path).name for r in newest] == ["b.png", "c.png", "a.png"]
    fused = page(s, Query(text="发票", top=2, offset=1), "hybrid")
    assert len(fused.results) == 2 and fused.offset == 1 and fused.next_offset == 3
    with pytest.raises(InputError, match="sort"):
        page(s, Query(text="发票", sort="sideways"), "ocr")
