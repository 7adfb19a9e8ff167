"""Text found in a video on the page and in the API: a library whose speech and subtitle lines are stored with
`save_lines` (no speech model needed). The matched line and its time under the thumbnail, the mode switch, and
the viewer's transcript and subtitle lists following playback, seeking on a click, and the shot changes on its
timeline. With ZHCLIP_SCREENSHOTS=DIR set, the viewer is left there at desktop and phone width."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from zhclip.search import IndexOptions, Library, Reader, Searcher, Store, index_library
from zhclip.search.text.lines import TextLine, save_lines
from zhclip.web import create_app

from ..search.media import photo, video
from ..search.test_text_store import _schema_2_library
from .test_browser import _wait, browser, pytestmark, serving  # noqa: F401
from .test_browser_pages import _shots

SPEECH = [(0.5, 2.5, "大家好，欢迎来到北京"), (3.0, 5.5, "我们明天去北京"), (6.0, 8.5, "周末一起去爬山")]
SUBTITLES = [(0.4, 2.6, "大家好"), (3.0, 5.6, "我們明天去北京"), (6.0, 8.6, "周末一起去爬山吧")]
SHOTS = [0.0, 3.0, 6.0]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
ROWS = "document.querySelectorAll('#viewer .said section[data-source={}] li')"
CURRENT = "[...document.querySelectorAll('#viewer .said li.current')].map(r => r.textContent)"
VIDEO = "document.querySelector('#viewer video')"


@pytest.fixture(scope="module")
def talk_library(tmp_path_factory, searcher) -> tuple[Path, int]:
    """(database, the talk video's file id): a video of three shots with speech and subtitles, and a photo."""
    root = tmp_path_factory.mktemp("talk")
    talk = video(root / "lib" / "talk.mp4", ["red", "green", "blue"], seconds_each=3.0, size=(640, 360))
    photo(root / "lib" / "photo.jpg", 1)
    db = root / "lib.db"
    index_library(db, [root / "lib"], searcher.encoder, IndexOptions(commit_every=0))
    record = Reader(db).file_by_path(str(talk))
    store = Store(db)
    with store.transaction() as conn:
        for source, lines in (("speech", SPEECH), ("subtitles", SUBTITLES)):
            save_lines(conn, record.content_id, source, [TextLine(text, start, end) for start, end, text in lines])
        store.set_meta(replace(store.meta(), speech=True))  # as `zhclip index --speech` leaves it
        conn.execute("UPDATE contents SET shots = ? WHERE id = ?", (json.dumps(SHOTS), record.content_id))
    return db, record.id


@pytest.fixture(scope="module")
def client(talk_library, searcher) -> TestClient:
    library = Library(Reader(talk_library[0]), searcher.encoder)
    return TestClient(create_app(Searcher(library)), base_url="http://127.0.0.1:5000")


@pytest.fixture(scope="module")
def talk_server(talk_library, web_library):
    with serving(talk_library[0], web_library[2]) as url:
        yield url


def test_a_files_lines_by_source_and_time_with_the_query_marked(client, talk_library):
    file_id = talk_library[1]
    body = client.get(f"/api/files/{file_id}/text", params={"source": "speech,subtitles", "q": "我们 北京"}).json()
    assert body["file_id"] == file_id and client.get(f"/api/files/{file_id}").json()["shots"] == SHOTS
    speech = [line for line in body["lines"] if line["source"] == "speech"]
    assert [(line["start"], line["end"], line["text"]) for line in speech] == SPEECH
    assert [line["marks"] for line in speech] == [[[8, 10]], [[0, 2], [5, 7]], []]
    subtitle = body["lines"][len(SPEECH) + 1]
    assert subtitle["text"] == "我們明天去北京" and subtitle["marks"] == [[0, 2], [5, 7]], "Traditional marked too"
    only = client.get(f"/api/files/{file_id}/text", params={"source": "subtitles"}).json()["lines"]
    assert {line["source"] for line in only} == {"subtitles"} and all(line["marks"] == [] for line in only)
    assert len(client.get(f"/api/files/{file_id}/text").json()["lines"]) == len(SPEECH) + len(SUBTITLES)


def test_the_text_endpoint_refuses_what_it_cannot_answer(client, talk_library):
    wrong = client.get(f"/api/files/{talk_library[1]}/text", params={"source": "speech,voice"})
    assert wrong.status_code == 400 and "'voice'" in wrong.json()["error"]["message"]
    assert "source" in wrong.json()["error"]["message"]
    assert client.get("/api/files/999999/text").status_code == 404


def test_an_old_library_on_read_only_storage_has_no_lines_to_show(tmp_path, monkeypatch, searcher):
    _schema_2_library(tmp_path / "old.db")
    monkeypatch.setattr("zhclip.search.store.read_only_storage", lambda path: True)
    reader = Reader(tmp_path / "old.db")
    old = TestClient(create_app(Searcher(Library(reader, searcher.encoder))), base_url="http://127.0.0.1:5000")
    talk = reader.file_by_path("/lib/talk.mp4").id
    assert old.get(f"/api/files/{talk}/text").json() == {"file_id": talk, "lines": []}
    assert old.get("/api/status").json()["text_sources"] == []


def test_status_names_the_text_sources_and_search_takes_their_modes(client):
    assert client.get("/api/status").json()["text_sources"] == ["speech", "subtitles"]
    found = client.get("/api/search", params={"q": "明天去北京", "match": "speech"}).json()["results"]
    assert found[0]["name"] == "talk.mp4" and found[0]["text"]["source"] == "speech"
    assert found[0]["text"]["line"] == "我们明天去北京" and found[0]["text"]["start"] == 3.0
    for match in ("subtitles", "text", "hybrid"):
        assert client.get("/api/search", params={"q": "爬山", "match": match}).json()["results"], match
    wrong = client.get("/api/search", params={"q": "爬山", "match": "voice"})
    assert wrong.status_code == 422 and "speech" in wrong.json()["error"]["message"]


def test_every_api_endpoint_is_documented(client):
    """Each path of the OpenAPI spec is in docs/serving.md's API table (a row's `/x` after `/api/files/{file_id}`
    stands for `/api/files/{file_id}/x`)."""
    documented = set()
    for row in DOCS.read_text(encoding="utf-8").splitlines():
        first_cell = row.split("|")[1] if row.startswith("|") else ""
        paths = [p.split("?")[0] for p in re.findall(r"`(?:GET |POST )?(/[^`\s]*)", first_cell)]
        if paths:
            documented |= {paths[0], *(p if p.startswith("/api/") else paths[0] + p for p in paths[1:])}
    generic = {re.sub(r"\{\w+\}", "{}", path) for path in documented}
    served = {re.sub(r"\{\w+\}", "{}", path) for path in client.get("/openapi.json").json()["paths"]}
    assert served - generic == set()


def test_the_line_under_the_thumbnail_and_the_mode_switch(talk_server, browser):  # noqa: F811
    browser.get(talk_server)
    offered = "[...document.querySelectorAll('#match option')].filter(o => !o.hidden).map(o => o.value)"
    assert _wait(browser, f"const o = {offered}; return o.includes('speech') && o") == [
        *["", "clip", "speech", "subtitles", "text", "hybrid"]
    ], "no OCR mode: the library has no OCR text"
    search(browser, "明天去北京", "speech")
    line = "document.querySelector('#results .card .text-line')"
    assert _wait(browser, f"return {line} && !{line}.hidden && {line}.textContent") == "语音0:03我们明天去北京"
    assert browser.execute_script(f"return {line}.querySelector('mark').textContent") == "明天去北京"
    assert browser.execute_script("return document.querySelectorAll('#results .card').length") == 1
    _wait(browser, "return document.querySelector('#results .card img').naturalWidth")
    _shots(browser, "text-results")

    search(browser, "我们", "subtitles")
    assert _wait(browser, f"return {line}?.querySelector('.source').textContent == '字幕' && {line}.textContent")
    assert browser.execute_script(f"return {line}.querySelector('.line').textContent") == "我們明天去北京"
    assert browser.execute_script(f"return {line}.querySelector('mark').textContent") == "我們"
    browser.execute_script("document.getElementById('lang').click()")
    labels = "[...document.querySelectorAll('#match option')].filter(o => !o.hidden).map(o => o.textContent)"
    assert browser.execute_script(f"return {labels}") == [
        *["Auto", "Picture", "Speech", "Subtitles", "Any text", "Picture + text"]
    ]
    assert browser.execute_script(f"return {line}.querySelector('.source').textContent") == "Subtitle"


def test_the_viewer_follows_playback_seeks_on_a_click_and_marks_the_shots(talk_server, browser):  # noqa: F811
    browser.get(talk_server)
    _wait(browser, "return document.querySelector('#match option[value=speech]:not([hidden])')")
    search(browser, "明天去北京", "speech")
    _wait(browser, "return document.querySelectorAll('#results .card').length")
    browser.execute_script("document.querySelector('#results .card .thumb').click()")
    assert _wait(browser, f"return {ROWS.format('speech')}.length") == len(SPEECH)
    assert browser.execute_script(f"return {ROWS.format('subtitles')}.length") == len(SUBTITLES)
    times = f"[...{ROWS.format('speech')}].map(r => r.querySelector('time').textContent)"
    assert browser.execute_script(f"return {times}") == ["0:00", "0:03", "0:06"]
    marked = "[...document.querySelectorAll('#viewer .said mark')].map(m => m.textContent)"
    assert browser.execute_script(f"return {marked}") == ["明天去北京"] * 2, "in both lists, 我們 as 我们"
    ticks = "[...document.querySelectorAll('#viewer .viewer-timeline .shot')].map(s => s.title)"
    assert _wait(browser, f"return {ticks}.length && {ticks}") == ["0:03", "0:06"], "the shot changes"

    _wait(browser, f"return {VIDEO}.readyState >= 2")
    browser.execute_script(f"{VIDEO}.pause(); {VIDEO}.currentTime = 6.5")
    assert _wait(browser, f"const c = {CURRENT}; return c.length == 2 && c") == [
        "0:06周末一起去爬山",
        "0:06周末一起去爬山吧",
    ]
    assert browser.execute_script("return document.querySelector('#viewer li.current').ariaCurrent") == "true"
    browser.execute_script(f"{VIDEO}.currentTime = 2.8")
    assert _wait(browser, f"return {CURRENT}.length == 0"), "between two lines none is playing"
    browser.execute_script(f"{VIDEO}.currentTime = 3.2")
    _wait(browser, f"return {CURRENT}.length == 2")
    _shots(browser, "viewer-transcript")

    browser.execute_script(f"{ROWS.format('speech')}[0].querySelector('button').click()")
    seeked = _wait(browser, f"const t = {VIDEO}.currentTime; return t >= 0.5 && t < 2.5 && [t]")
    assert seeked
    assert _wait(browser, f"const c = {CURRENT}; return c.length == 2 && c")[0] == "0:00大家好，欢迎来到北京"
    browser.execute_script(
        "const bar = document.querySelector('#viewer .viewer-timeline'), box = bar.getBoundingClientRect();"
        f"{VIDEO}.pause();"
        "bar.dispatchEvent(new MouseEvent('click', {clientX: box.left + box.width * 0.75, bubbles: true}))"
    )
    assert _wait(browser, f"const t = {VIDEO}.currentTime; return t > 6.5 && t < 9 && t")


def search(driver, text: str, match: str) -> None:
    driver.execute_script(
        "document.getElementById('q').value = arguments[0]; document.getElementById('match').value = arguments[1];"
        "document.getElementById('search').requestSubmit();",
        text,
        match,
    )
