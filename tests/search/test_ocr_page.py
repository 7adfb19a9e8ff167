"""The page in a real browser, for a library with OCR: the text mode, the matched words marked, the box drawn."""

from __future__ import annotations

import pytest

from tests.web.test_browser import _wait, browser, pytestmark, serving  # noqa: F401

from .media import solid
from .test_ocr import fake_engine  # noqa: F401


@pytest.fixture
def ocr_server(tmp_path, index, fake_engine, model_path):  # noqa: F811
    solid(tmp_path / "lib" / "invoice.png", "red", (320, 240))
    solid(tmp_path / "lib" / "ticket.png", "blue", (320, 240))
    index(tmp_path / "lib.db", tmp_path / "lib", ocr=True)
    with serving(tmp_path / "lib.db", model_path) as url:
        yield url


def test_text_mode_marks_the_matched_words_and_boxes_them(ocr_server, browser):  # noqa: F811
    browser.get(ocr_server)
    browser.execute_script(
        "document.getElementById('q').value = '发票'; document.getElementById('match').value = 'ocr';"
        "document.getElementById('search').requestSubmit();"
    )
    _wait(browser, "return document.querySelectorAll('#results .card').length === 1")
    card = "document.querySelector('#results .card')"
    assert browser.execute_script(f"return {card}.querySelector('.name').textContent") == "invoice.png"
    assert browser.execute_script(f"return {card}.querySelector('.text-line .line').textContent") == "增值税普通发票"
    assert browser.execute_script(f"return {card}.querySelector('.text-line mark').textContent") == "发票"
    box = _wait(browser, f"const b = {card}.querySelector('.ocr-box'); return b && [b.offsetWidth, b.offsetHeight]")
    assert box[0] > 10 and box[1] > 2
    browser.execute_script(f"{card}.querySelector('.thumb').click()")
    _wait(browser, "return document.querySelector('#viewer .ocr-box') !== null")
    fact = "document.querySelector('#viewer dd[data-fact=ocr_text]')"
    assert _wait(browser, f"return {fact} && {fact}.textContent") == "增值税普通发票"
    assert browser.execute_script(f"return {fact}.querySelector('mark').textContent") == "发票"


def test_the_mode_switch_speaks_both_languages(ocr_server, browser):  # noqa: F811
    browser.get(ocr_server)
    option = "document.querySelector('#match option[value=ocr]').textContent"
    assert browser.execute_script(f"return {option}") == "画面文字"
    browser.execute_script("document.getElementById('lang').click()")
    assert browser.execute_script(f"return {option}") == "On-screen text"
