"""`serve --token ADMIN --read-token READER`: the read-only token searches, browses, reads files and lists dupes;
everything that writes (rescan, trash, restore) and the trash itself answer 403 naming the admin token. The page
hides the admin-only controls from a read-only caller (tests/web/test_browser_pages.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from zhclip.errors import InputError
from zhclip.search import IndexOptions, index_library
from zhclip.web import create_app
from zhclip.web.security import READ_ONLY_POSTS, check_bind

from ..search.media import solid
from . import test_browser
from .test_browser import CHROMEDRIVER, CHROMIUM, _wait, serving

browser = test_browser.browser  # the fixture

ADMIN, READER = "admin-s3cret", "reader-s3cret"
REFUSAL = "this test server does not index"  # an admin's rescan passes the guard and meets this


@pytest.fixture(scope="module")
def app(searcher):
    return create_app(searcher, token=ADMIN, read_token=READER, rescan_refusal=REFUSAL)


def as_caller(app, token: str | None) -> TestClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app, base_url="http://192.0.2.1:5000", headers=headers)


def refused(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["message"]


def test_the_read_only_token_searches_browses_and_reads(app, web_library):
    lib, _, _ = web_library
    reader = as_caller(app, READER)
    assert reader.get("/api/status").json()["role"] == "read-only"
    found = reader.get("/api/search", params={"q": "照片", "top": 3, "min_score": -1}).json()["results"]
    assert len(found) == 3
    upload = {"image": ("q.jpg", (lib / "photo_3.jpg").read_bytes(), "image/jpeg")}
    assert reader.post("/api/search/image", files=upload).json()["results"][0]["name"] == "photo_3.jpg"
    file_id = found[0]["file_id"]
    assert reader.get(f"/api/files/{file_id}").json()["id"] == file_id
    assert reader.get(f"/api/files/{file_id}/thumbnail").headers["content-type"] == "image/jpeg"
    assert reader.get(f"/api/files/{file_id}/original").status_code == 200
    assert reader.get(f"/api/similar/{file_id}").status_code == 200
    assert reader.get("/api/browse").json()["items"]
    assert reader.get("/api/timeline").status_code == 200
    assert "groups" in reader.get("/api/dupes").json()
    assert reader.get("/").status_code == 200 and reader.get("/dupes").status_code == 200


def test_the_read_only_token_cannot_write_and_the_message_names_the_admin_token(app, web_library):
    lib, _, _ = web_library
    files_before = sorted(p.name for p in lib.rglob("*"))
    reader = as_caller(app, READER)
    file_id = reader.get("/api/browse").json()["items"][0]["file_id"]
    for response in (
        reader.post("/api/rescan"),
        reader.post("/api/dupes/trash", json={"keep": file_id, "trash": [file_id + 1]}),
        reader.post("/api/trash/any-action/restore"),
        reader.get("/api/trash"),
    ):
        assert "--token" in refused(response, 403) and "read-only" in response.json()["error"]["message"]
    assert sorted(p.name for p in lib.rglob("*")) == files_before


def test_every_route_that_writes_refuses_the_read_only_token(app):
    """Default deny: a route added later that writes is refused too, unless it is a POST that only reads."""
    reader = as_caller(app, READER)
    writes = [
        (method.upper(), path.replace("{action_id}", "x"))
        for path, methods in app.openapi()["paths"].items()
        for method in methods
        if method not in ("get", "head")
    ]
    assert ("POST", "/api/rescan") in writes
    for method, path in writes:
        if path not in READ_ONLY_POSTS:
            refused(reader.request(method, path), 403)


def test_the_admin_token_passes_to_every_route(app):
    admin = as_caller(app, ADMIN)
    assert admin.get("/api/status").json()["role"] == "admin"
    assert REFUSAL in refused(admin.post("/api/rescan"), 409)  # the server's own answer, past the guard
    assert "kept" in refused(admin.post("/api/dupes/trash", json={"keep": 1, "trash": [1]}), 400)
    assert admin.get("/api/trash").json() == {"actions": []}
    refused(admin.post("/api/trash/no-such-action/restore"), 404)


def test_without_either_token_nothing_is_served(app):
    for token in (None, "wrong", READER + "x", ADMIN[:-1]):
        refused(as_caller(app, token).get("/api/status"), 401)


def test_a_token_in_the_link_is_kept_in_the_cookie_with_its_role(app):
    page = as_caller(app, None)
    first = page.get("/", params={"token": READER})
    assert first.status_code == 200 and "zhclip_token" in first.headers["set-cookie"]
    assert page.get("/api/status").json()["role"] == "read-only"  # the cookie now
    refused(page.post("/api/rescan"), 403)
    page.get("/", params={"token": ADMIN})
    assert page.get("/api/status").json()["role"] == "admin"


def test_a_server_with_only_a_read_only_token_writes_for_nobody(searcher):
    read_only = create_app(searcher, read_token=READER)
    refused(as_caller(read_only, READER).post("/api/rescan"), 403)
    refused(as_caller(read_only, None).get("/api/status"), 401)


def test_a_loopback_server_without_tokens_serves_an_admin(searcher):
    local = TestClient(create_app(searcher, rescan_refusal=REFUSAL), base_url="http://127.0.0.1:5000")
    assert local.get("/api/status").json()["role"] == "admin"
    refused(local.post("/api/rescan"), 409)


def test_binding_beyond_loopback_needs_either_token():
    check_bind("0.0.0.0", None, READER)
    check_bind("0.0.0.0", ADMIN, None)
    with pytest.raises(InputError, match="--read-token"):
        check_bind("0.0.0.0", None, None)


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="needs chromium and chromedriver")
def test_the_read_only_page_hides_what_it_may_not_do(tmp_path, searcher, web_library, browser):
    """With ZHCLIP_SCREENSHOTS=DIR set, leaves the read-only pages there at desktop and phone width."""
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for color in ("red", "blue", "green"):
        solid(lib / f"{color}.jpg", color)
    (lib / "copies").mkdir()
    for color in ("red", "blue"):
        shutil.copy(lib / f"{color}.jpg", lib / "copies" / f"{color}_copy.jpg")
    index_library(db, [lib], searcher.encoder, IndexOptions(commit_every=0))
    shown = "(id) => getComputedStyle(document.getElementById(id)).display != 'none'"
    with serving(db, web_library[2], "--token", ADMIN, "--read-token", READER) as url:
        browser.get(f"{url}?token={READER}")
        _wait(browser, "return document.getElementById('status').textContent.includes('只读')")
        _wait(browser, "return document.querySelectorAll('#results .card img').length == 5")
        assert browser.execute_script(f"return ({shown})('rescan')") is False
        screenshots(browser, "read-only-page")
        browser.get(url + "dupes")  # the cookie keeps the read-only token
        browser.execute_script("document.getElementById('threshold').value = '0.995'")
        browser.execute_script("document.getElementById('threshold').dispatchEvent(new Event('change'))")
        assert _wait(browser, "return document.querySelectorAll('.dupe-group .grid').length") == 2
        visible = "return [...document.querySelectorAll(arguments[0])].filter((e) => e.offsetParent).length"
        for admin_only in ("#trash", ".trash-others", ".keep-choice"):
            assert browser.execute_script(visible, admin_only) == 0, admin_only
        screenshots(browser, "read-only-dupes")
        browser.get(f"{url}?token={ADMIN}")
        _wait(browser, f"return ({shown})('rescan')")
        browser.get(url + "dupes")
        _wait(browser, "return document.querySelector('.trash-others')?.offsetParent")
        assert browser.execute_script(visible, "#trash") == 1


def screenshots(browser, name: str) -> None:
    folder = os.environ.get("ZHCLIP_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    _wait(browser, "return [...document.querySelectorAll('.card img')].every((i) => i.naturalWidth > 0)")
    browser.save_screenshot(str(Path(folder) / f"{name}-desktop.png"))
    for width, height in ((390, 844), (1280, 900)):
        browser.set_window_size(width, height)
        _wait(browser, f"return window.innerWidth == {width}")
        if width == 390:
            browser.save_screenshot(str(Path(folder) / f"{name}-phone.png"))
