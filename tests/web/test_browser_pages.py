"""The page in a real browser: browse with infinite scroll, a sorted query, the viewer by keyboard, English.
With ZHCLIP_SCREENSHOTS=DIR set, each test leaves desktop and phone-width screenshots there."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from zhclip.search import IndexOptions, index_library

from ..search.media import photo
from . import test_browser
from .test_browser import CHROMEDRIVER, CHROMIUM, _wait, serving

browser, server = test_browser.browser, test_browser.server  # the fixtures

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="needs chromium and chromedriver")
MONTH = 31 * 24 * 3600
CARDS = "document.querySelectorAll('#results .card').length"
CAPTION = "document.querySelector('#viewer .viewer-caption').textContent"


@pytest.fixture(scope="session")
def big_library(tmp_path_factory, searcher, web_library) -> tuple[Path, Path]:
    """(database, model): 75 photos over three months, more than one page of the browse view."""
    root = tmp_path_factory.mktemp("big")
    now = time.time()
    for i in range(75):
        path = photo(root / "lib" / f"month{i % 3}" / f"p{i:03d}.jpg", i)
        os.utime(path, (now - (i % 3) * MONTH - i, now - (i % 3) * MONTH - i))
    index_library(root / "lib.db", [root / "lib"], searcher.encoder, IndexOptions(commit_every=0))
    return root / "lib.db", web_library[2]


def _shots(browser, name: str) -> None:
    folder = os.environ.get("ZHCLIP_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(Path(folder) / f"{name}-desktop.png"))
    browser.set_window_size(390, 844)
    time.sleep(0.8)
    browser.save_screenshot(str(Path(folder) / f"{name}-phone.png"))
    browser.set_window_size(1280, 900)


def _images_loaded(browser) -> None:
    _wait(browser, "return [...document.querySelectorAll('.card img')].slice(0, 8).every(i => i.naturalWidth > 0)")


def test_home_page_browses_by_month_with_infinite_scroll(big_library, browser):
    db, model = big_library
    with serving(db, model) as url:
        browser.get(url)
        assert _wait(browser, f"return {CARDS} >= 60 && {CARDS}") == 60, "one page before any query"
        months = browser.execute_script("return [...document.querySelectorAll('section.month h2')].length")
        assert months >= 2 and browser.execute_script("return document.querySelectorAll('#rail button').length") == 3
        dates = browser.execute_script("return [...document.querySelectorAll('.card')].map(c => +c.dataset.date)")
        assert dates == sorted(dates, reverse=True), "newest first"
        _images_loaded(browser)
        _shots(browser, "browse")
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        assert _wait(browser, f"return {CARDS} == 75 && {CARDS}") == 75, "scrolling loads the rest"
        browser.execute_script(
            "document.getElementById('path_contains').value = 'month2';"
            "document.getElementById('path_contains').dispatchEvent(new Event('change'))"
        )
        assert _wait(browser, f"return {CARDS} == 25 && {CARDS}") == 25, "filters work without a query"


def test_sorted_query_and_viewer_by_keyboard(server, browser):
    from selenium.webdriver.common.keys import Keys

    browser.get(server)
    _wait(browser, f"return {CARDS}")
    browser.find_element("id", "q").send_keys("一张照片")
    browser.execute_script("document.getElementById('sort').value = 'newest'")
    browser.find_element("css selector", "#search button[type=submit]").click()
    _wait(browser, "return document.querySelector('.card .score')?.textContent.includes('.')")
    dates = browser.execute_script("return [...document.querySelectorAll('.card')].map(c => +c.dataset.date)")
    assert len(dates) == 8 and dates == sorted(dates, reverse=True)
    _images_loaded(browser)
    _shots(browser, "query")
    names = browser.execute_script("return [...document.querySelectorAll('.card .name')].map(e => e.title)")
    browser.execute_script("document.querySelectorAll('.card .thumb')[0].click()")
    assert _wait(browser, f"return document.getElementById('viewer').open && {CAPTION}").startswith(names[0])
    body = browser.find_element("tag name", "body")
    body.send_keys(Keys.ARROW_RIGHT)
    assert _wait(browser, f"return {CAPTION}.startsWith({names[1]!r}) && {CAPTION}")
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_LEFT)
    assert _wait(browser, f"return {CAPTION}.startsWith({names[1]!r}) && {CAPTION}")
    assert _wait(browser, "return document.querySelector('#viewer dd[data-fact=size]')?.textContent").endswith("KB")
    time.sleep(0.5)
    _shots(browser, "viewer")
    body.send_keys(Keys.ESCAPE)
    assert _wait(browser, "return !document.getElementById('viewer').open")


def test_english_page_and_remembered_switch(server, browser):
    browser.get(server + "?lang=en")
    _wait(browser, "return document.getElementById('status').textContent.includes('images')")
    assert browser.find_element("css selector", "#search button[type=submit]").text == "Search"
    assert browser.execute_script("return document.documentElement.lang") == "en"
    browser.find_element("id", "q").send_keys("照片")
    browser.find_element("css selector", "#search button[type=submit]").click()
    assert "results" in _wait(browser, "return document.getElementById('message-text').textContent")
    _images_loaded(browser)
    _shots(browser, "english")
    browser.find_element("id", "lang").click()
    assert browser.find_element("css selector", "#search button[type=submit]").text == "搜索"
    browser.get(server)  # no ?lang: the switch is remembered
    _wait(browser, "return document.getElementById('status').textContent.includes('张图片')")
    browser.find_element("id", "lang").click()
    browser.get(server)
    _wait(browser, "return document.getElementById('status').textContent.includes('images')")


def test_duplicate_group_moved_to_trash_and_restored(tmp_path, searcher, web_library, browser):
    import shutil

    from ..search.media import solid

    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for name, color in (("red", "red"), ("blue", "blue"), ("green", "green")):
        solid(lib / f"{name}.jpg", color)
    (lib / "copies").mkdir()
    shutil.copy(lib / "red.jpg", lib / "copies" / "red_copy.jpg")
    shutil.copy(lib / "blue.jpg", lib / "copies" / "blue_copy.jpg")
    index_library(db, [lib], searcher.encoder, IndexOptions(commit_every=0))
    groups = "document.querySelectorAll('.dupe-group .grid').length"
    with serving(db, web_library[2]) as url:
        browser.get(url + "dupes")
        browser.execute_script("document.getElementById('threshold').value = '0.995'")
        browser.execute_script("document.getElementById('threshold').dispatchEvent(new Event('change'))")
        assert _wait(browser, f"return {groups} == 2 && {groups}") == 2
        _images_loaded(browser)
        _shots(browser, "dupes")
        kept = browser.execute_script("return document.querySelector('.dupe-group .kept .path').textContent")
        browser.execute_script("document.querySelector('.dupe-group .trash-others').click()")
        _wait(browser, "return document.querySelector('.trashed .undo')")
        assert Path(kept).is_file() and len(list((lib / "copies").iterdir())) + len(list(lib.glob("*.jpg"))) == 4
        assert _wait(browser, "return document.querySelectorAll('#trash-list .restore').length") == 1
        browser.execute_script("document.querySelector('.trashed .undo').click()")
        _wait(browser, "return document.getElementById('message-text').textContent.includes('已恢复')", timeout=120)
        assert _wait(browser, f"return {groups} == 2 && {groups}") == 2
        assert sorted(p.name for p in (lib / "copies").iterdir()) == ["blue_copy.jpg", "red_copy.jpg"]
        assert not list((lib / ".zhclip-trash").glob("*/action.json"))
