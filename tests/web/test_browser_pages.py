"""The page in a real browser: browse with infinite scroll, a sorted query, weak results after a divider, the
viewer by keyboard, English. With ZHCLIP_SCREENSHOTS=DIR set, each test leaves desktop and phone-width
screenshots there."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from zhclip.search import IndexOptions, Library, MediaEncoder, Query, Reader, Searcher, index_library
from zhclip.search.demo import DEMO_MODEL, captions_of, make_demo_library

from ..search.media import photo
from . import test_browser
from .test_browser import CHROMEDRIVER, CHROMIUM, _wait, serving

browser, server = test_browser.browser, test_browser.server  # the fixtures

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="needs chromium and chromedriver")
MONTH = 31 * 24 * 3600
PAGE = 40  # results per page of a query (app.js)
CARDS = "document.querySelectorAll('#results .card').length"
CAPTION = "document.querySelector('#viewer .viewer-caption').textContent"
# Resolves after two frames: layout, and the IntersectionObserver callbacks of the frame before, have run.
FRAMES = "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)))"


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


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory) -> tuple[Path, str, str]:
    """(database, query, path): the demo library indexed with the demo model, and a caption of one of its photos
    that the model ranks on the first page but under the automatic threshold, after a strong result."""
    if not DEMO_MODEL.is_file():
        pytest.skip("needs the demo model (src/zhclip/assets)")
    root = tmp_path_factory.mktemp("demo")
    library = make_demo_library(root / "files", signs=False)
    encoder = MediaEncoder.load(str(DEMO_MODEL), device="cpu", precision="fp32")
    index_library(root / "lib.db", [library.folder], encoder, IndexOptions(commit_every=0))
    searcher = Searcher(Library(Reader(root / "lib.db"), encoder))
    for text, name in captions_of(library, "photos"):
        results = searcher.search(Query(text=text, top=PAGE))
        path = str((library.folder / name).absolute())
        if not results[0].weak and any(r.weak and r.path == path for r in results):
            return root / "lib.db", text, path
    pytest.fail("no caption of a demo photo ranks it among the first page's weak results")


def _shots(browser, name: str) -> None:
    folder = os.environ.get("ZHCLIP_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(Path(folder) / f"{name}-desktop.png"))
    _resize(browser, 390, 844)
    browser.save_screenshot(str(Path(folder) / f"{name}-phone.png"))
    _resize(browser, 1280, 900)


def _resize(browser, width: int, height: int) -> None:
    """The window at `width` x `height`, once the page has laid itself out at that width (two frames drawn)."""
    browser.set_window_size(width, height)
    _wait(browser, f"return window.innerWidth == {width}")
    browser.execute_async_script(FRAMES)


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


def test_weak_results_sit_after_a_divider_and_scrolling_waits_for_more(demo_library, browser):
    db, text, answer = demo_library
    with serving(db, DEMO_MODEL) as url:
        browser.get(url)
        _wait(browser, f"return {CARDS}")
        browser.find_element("id", "q").send_keys(text)
        browser.find_element("css selector", "#search button[type=submit]").click()
        assert _wait(browser, f"return document.querySelector('.weak-divider') && !view.loading && {CARDS}") == PAGE
        cards = browser.execute_script(
            "const divider = document.querySelector('.weak-divider');"
            "return [...document.querySelectorAll('#results .card')].map(c => [c.querySelector('.name').title,"
            " Boolean(divider.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING), c.matches('.weak')])"
        )
        after = [path for path, below, _ in cards if below]
        assert answer in after and cards[0][1] is False, "strong results first, the right answer after the divider"
        assert all(below == weak for _, below, weak in cards), "the divider is where the weak results begin"
        assert browser.execute_script("return document.querySelector('.weak-divider').textContent") == "较弱的匹配"
        _images_loaded(browser)
        _shots(browser, "weak")

        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        browser.execute_async_script(FRAMES)  # the scroll's IntersectionObserver callback has run
        browser.execute_async_script("loadMore().then(() => arguments[0](true))")
        assert browser.execute_script(f"return {CARDS}") == PAGE, "scrolling stops after the first weak page"
        resume = browser.find_element("css selector", "#resume button")
        assert resume.is_displayed() and resume.text == "显示更多较弱的匹配"
        _shots(browser, "weak-paused")
        browser.find_element("id", "lang").click()
        assert resume.text == "Show more weaker matches"
        assert browser.execute_script("return document.querySelector('.weak-divider').textContent") == "Weaker matches"
        resume.click()
        assert _wait(browser, f"return view.done && {CARDS}") > PAGE, "the button loads the rest"
        assert not resume.is_displayed()


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
    _wait(
        browser,
        "const i = document.querySelector('#viewer .viewer-body img'); return i && i.complete && i.naturalWidth",
    )
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
