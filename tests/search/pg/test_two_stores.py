"""Issue 33's proof, through the command line only: one folder (photos with dates and duplicates, pictures with
text read by OCR, videos with subtitle sidecars, a folder named with quotes, %, _ and a backslash) indexed by
`zhclip index` into an SQLite file and into a PostgreSQL database gives the same top-k for a fixed query set in
every match mode and filter (paths, order, texts and times; scores within fp16's tolerance), the same similar
files, duplicate groups and `library info` counts; and `zhclip library copy` SQLite -> PostgreSQL and
PostgreSQL -> SQLite give libraries that search as their originals."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from zhclip.cli import main

from ..media import photo, solid, video
from ..test_ocr import FakeEngine
from ..test_subtitles_index import write_sidecar

# Both stores keep the same float16 vectors and score them against the float32 query; JSON rounds to 4 decimals
# (measured on this folder: all 122 compared scores equal). Well under float16's 1e-3.
SCORE_TOLERANCE = 5e-4
ODD_FOLDER = 'it\'s "100%"_a\\b'
DAY = 86_400
DATES = itertools.count(1_600_000_000, 97 * DAY)  # 2020-09 on, every three months or so
DATABASES = itertools.count()
# (match mode, query, filters): the fixed query set
CASES = [
    ("clip", "红色的画面", []),
    ("clip", "一张照片", ["--type", "image"]),
    ("clip", "一段视频", ["--type", "video"]),
    ("clip", "照片", ["--after", "2021-06-01", "--before", "2023-01-01"]),
    ("clip", "照片", ["--path-contains", ODD_FOLDER]),
    ("clip", "照片", ["--path-contains", '"100%"_']),
    ("clip", "照片", ["--path-contains", "%"]),
    ("clip", "照片", ["--path-contains", "_"]),
    ("clip", "照片", ["--path-contains", "a\\b"]),
    ("ocr", "登机牌", []),
    ("ocr", "发票", ["--type", "image"]),
    ("ocr", "会议纪要", ["--path-contains", ODD_FOLDER]),
    ("subtitles", "明天去北京", []),
    ("subtitles", "沙发", ["--type", "video", "--after", "2020-01-01"]),
    ("text", "北京", []),
    ("text", "文档", ["--before", "2023-06-01"]),
    ("hybrid", "北京南站", []),
    ("hybrid", "会议", ["--type", "image", "--path-contains", "'"]),
]


def dated(path: Path) -> Path:
    stamp = next(DATES)
    os.utime(path, (stamp, stamp))
    return path


def make_folder(root: Path) -> Path:
    """Photos (one copied, one resized: duplicates), solid pictures the fake OCR reads, two videos with sidecars,
    and files in a folder whose name holds quotes, %, _ and a backslash; every file with its own date."""
    for n in range(6):
        dated(photo(root / "trip" / f"p{n}.jpg", n))
    shutil.copy(root / "trip" / "p0.jpg", root / "trip" / "p0 copy.jpg")
    Image.open(root / "trip" / "p1.jpg").resize((120, 90)).save(root / "trip" / "p1_small.jpg")
    dated(solid(root / "docs" / "ticket.png", "blue"))
    dated(solid(root / "docs" / "invoice.png", "red"))
    dated(solid(root / "docs" / "readme.png", "yellow"))
    dated(solid(root / ODD_FOLDER / "minutes.png", "green"))
    dated(photo(root / ODD_FOLDER / "p9.jpg", 9))
    dated(video(root / "clips" / "lecture.mp4", ["red", "blue"]))
    write_sidecar(root / "clips" / "lecture.zh.srt", "utf-8", 1.0, 3.0, "我们明天去北京开会")
    dated(video(root / "clips" / "cat.mp4", ["green", "yellow"]))
    write_sidecar(root / "clips" / "cat.chs.srt", "gbk", 2.0, 3.5, "小猫在沙发上睡觉")
    return root


def new_database(pg_server) -> str:
    name = f"two_stores_{next(DATABASES)}"
    pg_server.sql([f"CREATE DATABASE {name}"])
    pg_server.sql(["CREATE EXTENSION vector", "CREATE EXTENSION pg_trgm"], database=name)
    return pg_server.url(name)


def run(*args) -> None:
    code = main([str(a) for a in args])
    assert code == 0, args


@pytest.fixture(scope="module")
def libraries(tmp_path_factory, pg_server, model_path) -> dict[str, str]:
    """The folder indexed into each store through `zhclip index` (OCR by a fake engine, in this process; set up
    before conftest's function-scoped log folder, so it names its own)."""
    root = tmp_path_factory.mktemp("stores")  # no _ in the path: the filter for _ finds one folder
    folder = make_folder(root / "lib")
    dbs = {"sqlite": str(root / "lib.db"), "postgresql": new_database(pg_server)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("zhclip.search.indexer.OcrEngine", FakeEngine)
        patch.setenv("XDG_STATE_HOME", str(root / "state"))  # the PostgreSQL library's log: here, not in ~
        for db in dbs.values():
            run("index", folder, "--db", db, "--model", model_path, "--ocr", "--precision", "fp32", "--no-progress")
    return dbs | {"folder": str(folder), "root": str(root)}


def answer(cli, *args) -> list | dict:
    done = cli(*args, "--json")
    assert done.returncode == 0, (args, done.stderr)
    return json.loads(done.stdout)


def searched(cli, db: str, mode: str, query: str, filters: list[str]) -> list[dict]:
    return answer(
        cli, "search", query, "--db", db, "--match", mode, *filters, "--top", "8", "--min-score", "-1",
        "--precision", "fp32",
    )  # fmt: skip


def assert_same_results(got: list[dict], expected: list[dict], what) -> None:
    """Same paths in the same order with the same texts and times; scores within the tolerance. Results whose
    scores tie within it may come in either order."""
    assert len(got) == len(expected), what
    for at, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert abs(mine["score"] - theirs["score"]) <= SCORE_TOLERANCE, (what, at, mine, theirs)
        if mine["path"] != theirs["path"]:
            tied = [r for r in expected if abs(r["score"] - mine["score"]) <= SCORE_TOLERANCE]
            assert mine["path"] in {r["path"] for r in tied}, (what, at, mine, theirs)
            continue
        assert comparable(mine) == comparable(theirs), (what, at)


def comparable(result: dict) -> dict:
    """A result without what differs by store by design: its row id, and scores (compared apart)."""
    return {name: value for name, value in result.items() if name not in ("file_id", "score", "weak")}


@pytest.mark.parametrize(("mode", "query", "filters"), CASES)
def test_the_two_stores_give_the_same_top_k(cli, libraries, mode, query, filters):
    sqlite = searched(cli, libraries["sqlite"], mode, query, filters)
    assert sqlite, "every query of the set finds something"
    assert_same_results(searched(cli, libraries["postgresql"], mode, query, filters), sqlite, (mode, query, filters))


def test_the_query_set_finds_what_it_is_about(cli, libraries):
    """The comparison above means something: each mode finds its file, and the odd path filter only its folder."""
    db = libraries["sqlite"]
    names = {mode: [Path(r["path"]).name for r in searched(cli, db, mode, q, f)] for mode, q, f in CASES if not f}
    assert set(names["ocr"]) == {"ticket.png", "lecture.mp4"}  # the ticket, and the video's blue frames
    assert names["subtitles"] == ["lecture.mp4"] and names["hybrid"][0] == "ticket.png"
    odd = searched(cli, db, "clip", "照片", ["--path-contains", ODD_FOLDER])
    assert sorted(Path(r["path"]).name for r in odd) == ["minutes.png", "p9.jpg"]
    assert searched(cli, db, "clip", "照片", ["--path-contains", "%"]) == odd  # % is a character, not a wildcard
    assert {Path(r["path"]).name for r in searched(cli, db, "clip", "照片", ["--path-contains", "_"])} == {
        "minutes.png", "p9.jpg", "p1_small.jpg"
    }  # fmt: skip


def test_similar_dupes_and_info_agree(cli, libraries):
    folder = Path(libraries["folder"])
    sqlite, shared = libraries["sqlite"], libraries["postgresql"]
    for path, at in [(folder / "trip" / "p1.jpg", []), (folder / "clips" / "cat.mp4", ["--at", "3"])]:
        similar = [answer(cli, "similar", path, "--db", db, *at, "--precision", "fp32") for db in (sqlite, shared)]
        assert_same_results(similar[1], similar[0], path)
    groups = [answer(cli, "dupes", "--db", db, "--precision", "fp32") for db in (sqlite, shared)]
    assert sorted(map(sorted, groups[1])) == sorted(map(sorted, groups[0])) and groups[0]
    assert_same_info(cli, shared, sqlite)


def assert_same_info(cli, db: str, expected_db: str) -> None:
    facts, expected = answer(cli, "library", "info", "--db", db), answer(cli, "library", "info", "--db", expected_db)
    for name in ("counts", "roots", "model", "ocr", "speech", "subtitles"):
        assert facts[name] == expected[name], name
    assert expected["counts"]["files"] == 15 and expected["subtitles"]["contents_with_text"] == 2
    assert expected["ocr"]["contents_with_text"] == 6 and expected["ocr"]["video_frames_with_text"] > 0


def test_copies_either_way_search_as_their_originals(cli, libraries, pg_server):
    into_pg, into_sqlite = new_database(pg_server), str(Path(libraries["root"]) / "copied.db")
    for source, target in [(libraries["sqlite"], into_pg), (libraries["postgresql"], into_sqlite)]:
        copied = cli("library", "copy", source, target, "--no-progress")
        assert copied.returncode == 0, copied.stderr
        assert_same_info(cli, target, source)
        for mode, query, filters in CASES[::3]:
            expected = searched(cli, source, mode, query, filters)
            assert_same_results(searched(cli, target, mode, query, filters), expected, (target, mode, query))
