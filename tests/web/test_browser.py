"""A real browser against a real `zhclip serve`: load the page, search, see results, play a video result."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import HOSTILE_NAME

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,900",
    "--lang=zh-CN",  # the page speaks the browser's language: these tests read its Chinese labels
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(web_library):
    lib, db, model = web_library
    with serving(db, model) as url:
        yield url


@contextmanager
def serving(db: Path, model: Path, *extra: str):
    """`zhclip serve` of `db` on a free port: yields its URL."""
    port = _free_port()
    command = [sys.executable, "-m", "zhclip", "serve", "--db", str(db), "--model", str(model)]
    command += ["--precision", "fp32", "--port", str(port), *extra]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url + "api/status", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _wait_until_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"zhclip serve exited: {proc.stdout.read()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:  # an answer, even a refusal (a server with tokens): it is up
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("zhclip serve did not come up")


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install zhclip[dev])")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="zhclip-chromium-")
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, script: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def test_page_searches_shows_results_and_plays_a_video(server, browser):
    browser.get(server)
    _wait(browser, "return document.getElementById('status').textContent.includes('张图片')")
    browser.find_element("id", "q").send_keys("一张照片")
    browser.find_element("css selector", "#search button[type=submit]").click()
    count = _wait(browser, "return document.querySelectorAll('#results .card').length")
    assert count == 8
    names = browser.execute_script("return [...document.querySelectorAll('.card .name')].map(e => e.textContent)")
    assert HOSTILE_NAME in names, "a file name with markup is shown as text"
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert _wait(browser, "return [...document.querySelectorAll('.card img')].filter(i => i.naturalWidth > 0).length")

    browser.execute_script("document.querySelector('.card[data-kind=video] .thumb').click()")
    start = browser.execute_script(
        "return parseFloat(document.querySelector('.card[data-kind=video] .segment').textContent.split(':')[1]) || 0"
    )
    played = _wait(
        browser,
        "const v = document.querySelector('#viewer video');"
        "return v && !v.error && v.readyState >= 2 && !v.paused && v.currentTime > 0 "
        "&& [v.currentTime, v.duration];",
    )
    assert played[0] >= start and played[1] > 5
    shot = os.environ.get("ZHCLIP_SCREENSHOT")
    if shot:
        browser.execute_script("document.getElementById('viewer').close()")
        browser.save_screenshot(str(Path(shot)))
