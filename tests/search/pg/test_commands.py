"""Every command on a PostgreSQL library, through the CLI as a user runs it: index (pictures, a video with a
subtitle sidecar), search by picture, subtitles, all text and both, similar, dupes, a re-index that skips what
did not change; the server's search, text, browse, dupes and trash, and `zhclip serve` itself; and a library
that cannot be opened is one line naming the fix, exit 2, for every command, with nothing written here."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.polling import eventually
from tests.search.test_ocr import FakeEngine
from tests.web.test_browser import serving
from zhclip.search import Library, Searcher
from zhclip.search.pg.store import PgReader
from zhclip.web import create_app

from ..media import photo, solid, video

FP32 = ("--precision", "fp32")  # "auto" measures the machine once; tests need not wait for that
CUE = (1.0, 3.0, "我们明天去北京开会")


@pytest.fixture
def folder(tmp_path) -> Path:
    """Three photos, an identical copy of one, and a video with a subtitle sidecar."""
    lib = tmp_path / "lib"
    for i in range(3):
        photo(lib / f"p{i}.jpg", i)
    shutil.copy(lib / "p0.jpg", lib / "p0_copy.jpg")
    video(lib / "talk.mp4", ["red", "blue"])
    start, end, text = CUE
    (lib / "talk.srt").write_text(f"1\n00:00:0{start:.0f},000 --> 00:00:0{end:.0f},000\n{text}\n", encoding="utf-8")
    return lib


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """An empty working directory (the log folder of PostgreSQL libraries is tmp_path/state: conftest.py)."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _json(result) -> list:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_command_works_on_a_postgresql_library(cli, pg_url, folder, model_path, here, tmp_path):
    db = str(pg_url)
    done = cli("index", folder, "--db", db, "--model", model_path, "--no-progress", *FP32)
    assert done.returncode == 0, done.stderr
    assert "new 5, updated 0, unchanged 0, removed 0, failed 0" in done.stdout
    logs = list((tmp_path / "state" / "zhclip" / "logs").iterdir())
    assert len(logs) == 1 and logs[0].name.endswith(f"-{pg_url.database}.log"), logs
    assert "new 5" in logs[0].read_text(encoding="utf-8")

    pictures = _json(cli("search", "红色", "--db", db, "--match", "clip", "--json", "--top", "3", *FP32))
    assert len(pictures) == 3 and all(r["path"].startswith(str(folder)) for r in pictures)
    for match in ("subtitles", "text", "hybrid"):
        found = _json(cli("search", "北京开会", "--db", db, "--match", match, "--json", *FP32))
        said = [r for r in found if r["text"] is not None]
        assert said and said[0]["path"] == str(folder / "talk.mp4"), match
        assert (said[0]["text"]["line"], said[0]["text"]["start"], said[0]["text"]["end"]) == (CUE[2], *CUE[:2])
    printed = cli("search", "北京", "--db", db, "--match", "subtitles", *FP32)
    assert "talk.mp4" in printed.stdout and "subtitles 00:01.0 「我们明天去北京开会」" in printed.stdout

    like = _json(cli("similar", folder / "p0.jpg", "--db", db, "--json", *FP32))
    assert like[0]["path"] == str(folder / "p0_copy.jpg")
    groups = _json(cli("dupes", "--db", db, "--threshold", "0.999", "--json", *FP32))
    assert str(folder / "p0_copy.jpg") in next(g for g in groups if str(folder / "p0.jpg") in g)

    again = cli("index", folder, "--db", db, "--no-progress", *FP32)  # the library's own model
    assert again.returncode == 0, again.stderr
    assert "new 0, updated 0, unchanged 5, removed 0, failed 0" in again.stdout
    assert list(here.iterdir()) == [], "a PostgreSQL library writes nothing in the working directory"


def test_the_server_answers_from_a_postgresql_library(cli, pg_url, folder, model_path, here):
    done = cli("index", folder, "--db", str(pg_url), "--model", model_path, "--no-progress", *FP32)
    assert done.returncode == 0, done.stderr
    library = Library.open(str(pg_url), precision="fp32", device="cpu")
    library.reload_every = 0.0
    client = TestClient(create_app(Searcher(library)), base_url="http://127.0.0.1:5000")

    found = client.get("/api/search", params={"q": "北京开会", "match": "subtitles"}).json()["results"]
    assert found[0]["path"] == str(folder / "talk.mp4") and found[0]["text"]["line"] == CUE[2]
    lines = client.get(f"/api/files/{found[0]['file_id']}/text", params={"q": "北京"}).json()["lines"]
    assert [(line["source"], line["text"], line["start"], line["marks"]) for line in lines] == [
        ("subtitles", CUE[2], CUE[0], [[5, 7]])  # 北京
    ]
    assert client.get("/api/search", params={"q": "红色", "match": "clip", "top": 3}).json()["results"]

    browsed = client.get("/api/browse", params={"sort": "path"}).json()
    assert browsed["total"] == 5 and [i["name"] for i in browsed["items"]][:2] == ["p0.jpg", "p0_copy.jpg"]
    files = {item["name"]: item["file_id"] for item in browsed["items"]}
    groups = [
        [f["name"] for f in g["files"]] for g in client.get("/api/dupes", params={"threshold": 0.999}).json()["groups"]
    ]
    assert "p0_copy.jpg" in next(g for g in groups if "p0.jpg" in g)

    trashed = client.post("/api/dupes/trash", json={"keep": files["p0.jpg"], "trash": [files["p0_copy.jpg"]]})
    assert trashed.status_code == 200, trashed.text
    assert not (folder / "p0_copy.jpg").exists() and client.get("/api/browse").json()["total"] == 4
    action = trashed.json()["action"]["id"]
    assert client.post(f"/api/trash/{action}/restore").status_code == 200
    assert (folder / "p0_copy.jpg").is_file()

    with serving(str(pg_url), model_path) as url:  # `zhclip serve --db postgresql://…` as a user starts it
        query = urllib.parse.urlencode({"q": "北京开会", "match": "text"})
        with urllib.request.urlopen(f"{url}api/search?{query}", timeout=60) as response:
            assert json.loads(response.read())["results"][0]["path"] == str(folder / "talk.mp4")


@pytest.fixture
def unusable(pg_server, pg_url, folder, model_path, cli) -> dict[str, tuple[str, str]]:
    """`--db` values of libraries that cannot be opened, with what each message must say to fix it."""
    newer = f"{pg_url.database}_newer"
    pg_server.sql([f"CREATE DATABASE {newer}"])
    newer_url = str(pg_url).replace(f"/{pg_url.database}?", f"/{newer}?")
    assert cli("index", folder, "--db", newer_url, "--model", model_path, "--no-progress", *FP32).returncode == 0
    pg_server.sql(["UPDATE zhclip_schema SET version = 99"], database=newer)
    return {
        "unreachable": ("postgresql://editor@127.0.0.1:1/photos", "cannot reach the PostgreSQL server at 127.0.0.1:1"),
        "missing database": (str(pg_url).replace(f"/{pg_url.database}?", "/absent?"), "createdb -O"),
        "newer schema": (newer_url, "newer than this zhclip understands"),
    }


COMMANDS = {
    "index": lambda db, folder, model: ("index", folder, "--db", db, "--model", model, "--no-progress"),
    "search": lambda db, folder, model: ("search", "北京", "--db", db),
    "similar": lambda db, folder, model: ("similar", folder / "p0.jpg", "--db", db),
    "dupes": lambda db, folder, model: ("dupes", "--db", db),
    "serve": lambda db, folder, model: ("serve", "--db", db, "--port", "0"),
}


def test_a_library_that_cannot_be_opened_is_one_line_for_every_command(cli, unusable, folder, model_path, here):
    state = here.parent / "state"
    shutil.rmtree(state)  # the fixture's indexing made the log folder
    for command, arguments in COMMANDS.items():
        for case, (db, fix) in unusable.items():
            result = cli(*arguments(db, folder, model_path), *FP32)
            said = (command, case, result.stderr)
            assert result.returncode == 2 and fix in result.stderr and len(result.stderr.splitlines()) == 1, said
            assert not list(here.iterdir()) and not state.exists(), said


def test_ocr_on_a_postgresql_library_reads_once_and_gives_the_segment(cli, pg_url, model_path, tmp_path, monkeypatch):
    FakeEngine.calls, FakeEngine.fail_on = 0, None
    monkeypatch.setattr("zhclip.search.indexer.OcrEngine", FakeEngine)
    lib = tmp_path / "lib"
    video(lib / "meeting.mp4", ["blue", "green", "green", "red"], seconds_each=2.0)  # frames at 0, 2, 4, 6 s
    solid(lib / "invoice.png", "red")
    db = str(pg_url)
    done = cli("index", lib, "--db", db, "--model", model_path, "--ocr", "--no-progress", *FP32)
    assert done.returncode == 0, done.stderr
    read = FakeEngine.calls
    again = cli("index", lib, "--db", db, "--no-progress", *FP32)  # OCR stays on; nothing is read twice
    assert again.returncode == 0 and FakeEngine.calls == read, again.stderr

    found = _json(cli("search", "会议纪要", "--db", db, "--match", "ocr", "--json", *FP32))
    assert [(r["start"], r["end"], r["ocr"]["text"]) for r in found] == [(2.0, 6.0, "会议纪要")]
    invoice = _json(cli("search", "普通发票", "--db", db, "--match", "ocr", "--json", *FP32))
    assert [Path(r["path"]).name for r in invoice][:1] == ["invoice.png"]


@pytest.mark.slow  # 23 s on a loaded 2-core machine; the watching itself is tested on SQLite by default
def test_index_watch_on_a_postgresql_library(pg_url, model_path, tmp_path):
    lib = tmp_path / "lib"
    photo(lib / "a.jpg", 1)
    command = [sys.executable, "-m", "zhclip", "index", lib, "--db", pg_url, "--model", model_path, *FP32]
    proc = subprocess.Popen(
        [*map(str, command), "--no-progress", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C as at a terminal
    )
    try:
        eventually(lambda: _files(pg_url) >= 1, "the first run indexes a.jpg", timeout=120)
        photo(lib / "later.jpg", 2)
        eventually(lambda: _files(pg_url) == 2, "the new file is indexed while watching")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped watching" in out and "new 1, updated 0" in out, out


def _files(url) -> int:
    """Files in the library so far (0 while the indexer is still creating it)."""
    reader = PgReader(url)
    return reader.counts()["files"] if reader.version else 0
