"""Screenshots of the search page on a library with OCR: the result grid for a text query (matched words
highlighted under each thumbnail, the line boxed on it) and the viewer of the first result (the box on the
image, the line with the words marked among its facts).

    PYTHONPATH=src python -m benchmarks.ocr_page_screenshots --out benchmarks/results

Needs chromium, chromium-driver, selenium (zhclip[dev]), zhclip[ocr] and fonts-noto-cjk. The library is
drawn here (benchmarks/ocr_images.py): receipts, tickets and signs on photo-like backgrounds, plus text-free
photos; it is indexed with the real OCR engine and the demo CLIP model, served by `zhclip serve`.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.ocr_images import background, draw_phrase

DEMO_MODEL = Path(__file__).resolve().parent.parent / "src" / "zhclip" / "assets" / "demo_model.pt"
# (file, phrase, text px, font, palette colour, rotation, background); None: a text-free photo
PICTURES = [
    ("receipt.jpg", "增值税普通发票", 48, "sans-bold", 0, 0, "paper"),
    ("e_invoice.jpg", "电子发票 开票日期", 40, "sans", 3, 3, "paper"),
    ("photo_note.jpg", "发票已寄出", 56, "sans-bold", 1, -5, "photo"),
    ("ticket.jpg", "火车票 北京南站", 44, "serif-bold", 2, 0, "field"),
    ("sign.jpg", "营业时间", 64, "sans-bold", 4, 0, "scene"),
    ("boarding.jpg", "登机牌", 52, "serif", 1, 8, "noise"),
    ("plain_photo.jpg", None, 0, "", 0, 0, "photo"),
    ("plain_scene.jpg", None, 0, "", 0, 0, "scene"),
]


def make_library(folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, phrase, size, font, colour, rotation, kind in PICTURES:
        image = background(kind, rng)
        if phrase:
            draw_phrase(image, phrase, size, font, colour, rotation, rng)
        image.save(folder / name, quality=90)


def index(db: Path, folder: Path) -> None:
    import zhclip
    from zhclip.search import IndexOptions, MediaEncoder, index_library

    encoder = MediaEncoder(zhclip.load(DEMO_MODEL, device="cpu", precision="fp32"))
    index_library(db, [folder], encoder, IndexOptions(ocr=True))


@contextmanager
def serving(db: Path):
    """`zhclip serve` of `db` on a free port: yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "zhclip", "serve", "--db", str(db), "--model", str(DEMO_MODEL)]
    proc = subprocess.Popen([*command, "--precision", "fp32", "--port", str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait(lambda: _answers(url + "api/status") or proc.poll() is not None, 90)
        if proc.poll() is not None:
            raise SystemExit("zhclip serve exited")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


def _wait(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit("timed out waiting for the page")


@contextmanager
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))))
    profile = tempfile.mkdtemp(prefix="zhclip-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shoot(url: str, query: str, match: str, out: Path) -> None:
    with chromium() as browser:
        browser.get(url)
        browser.execute_script(
            "document.getElementById('q').value = arguments[0]; document.getElementById('match').value = arguments[1];"
            "document.getElementById('search').requestSubmit();",
            query,
            match,
        )
        _wait(lambda: browser.execute_script("return document.querySelectorAll('#results .card .ocr-box').length"))
        _wait(lambda: browser.execute_script("return [...document.images].every(i => i.complete)"))
        _save(browser, out / "ocr_page_grid.jpg")
        browser.execute_script("document.querySelector('#results .card .thumb').click()")
        _wait(lambda: browser.execute_script("return document.querySelector('#viewer .ocr-box') !== null"))
        _wait(lambda: browser.execute_script("return [...document.images].every(i => i.complete)"))
        time.sleep(0.5)
        _save(browser, out / "ocr_page_viewer.jpg")


def _save(browser, path: Path) -> None:
    from io import BytesIO

    from PIL import Image

    Image.open(BytesIO(browser.get_screenshot_as_png())).convert("RGB").save(path, quality=85)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--query", default="发票")
    parser.add_argument("--match", default="hybrid", choices=("ocr", "hybrid"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zhclip-ocr-page-") as tmp:
        make_library(Path(tmp) / "photos")
        index(Path(tmp) / "lib.db", Path(tmp) / "photos")
        with serving(Path(tmp) / "lib.db") as url:
            shoot(url, args.query, args.match, args.out)


if __name__ == "__main__":
    main()
