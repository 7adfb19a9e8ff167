"""Web security: names escaped in the rendered page, upload limits, only library files readable, auth off
loopback, no directory listings, correct content types."""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from benchmarks.reliability.corpus import CASES, make_corpus
from benchmarks.reliability.load import request, serving
from PIL import Image

from tests.search.media import photo, video
from tests.web.test_browser import CHROMEDRIVER, CHROMIUM, _wait, browser  # noqa: F401 - the browser fixture
from zhclip.cli import main
from zhclip.search import IndexOptions, Reader, index_library
from zhclip.web.app import MAX_UPLOAD_BYTES

from .conftest import assert_json_error, client_for

HOSTILE_NAMES = (
    "<img src=x onerror=alert(1)>.jpg",
    '"><svg onload=alert(2)>.jpg',
    "<b onmouseover=alert(3)>bold<b>.png",
    "javascript:alert(4).jpg",
    "name\nwith newline & 'quotes'.jpg",
)
SECRET = b"TOP SECRET: outside the library\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory, encoder):
    """(library folder, database) with hostile names, a PNG, a video and a file outside the library."""
    root = tmp_path_factory.mktemp("site")
    lib = root / "lib"
    for i, name in enumerate(HOSTILE_NAMES):
        photo(lib / name, 200 + i)
    video(lib / "clip.mp4", ["red", "blue"], seconds_each=1.0)
    (root / "secret.txt").write_bytes(SECRET)
    summary = index_library(root / "lib.db", [lib], encoder, IndexOptions(workers=2, commit_every=0))
    assert summary.new == len(HOSTILE_NAMES) + 1, summary.failed
    return lib, root / "lib.db"


@pytest.fixture(scope="module")
def server(site):
    with serving(site[1]) as host:
        yield host


@pytest.fixture(scope="module")
def client(site, encoder):
    return client_for(site[1], encoder)


def _id(db: Path, path: Path) -> int:
    return Reader(db).file_by_path(str(path)).id


# ------------------------------------------------------------------ the page


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="needs chromium and chromedriver")
def test_file_names_are_rendered_as_text(server, browser):  # noqa: F811 - the imported fixture
    browser.get(f"http://{server}/")
    _wait(browser, "return document.getElementById('status').textContent.includes('张图片')")
    browser.execute_script("window.alerts = []; window.alert = (m) => window.alerts.push(String(m));")
    browser.find_element("id", "q").send_keys("照片")
    browser.find_element("css selector", "#search button[type=submit]").click()
    _wait(browser, f"return document.querySelectorAll('#results .card').length >= {len(HOSTILE_NAMES)}")
    names = browser.execute_script("return [...document.querySelectorAll('.card .name')].map(e => e.textContent)")
    assert set(HOSTILE_NAMES) <= set(names), "every name is shown exactly as it is"
    injected = "#results svg, #results b, #results img[src='x'], #results [onload], #results [onmouseover]"
    assert browser.execute_script(f'return document.querySelectorAll("{injected}").length') == 0
    browser.execute_script("document.querySelector('#results .card .thumb').click()")
    _wait(browser, "return document.querySelector('#viewer .viewer-caption').textContent.length > 0")
    assert browser.execute_script("return document.querySelectorAll('#viewer svg, #viewer b').length") == 0
    _settled(browser)  # any injected handler would have fired by now
    assert browser.execute_script("return window.alerts") == []


def _settled(driver) -> None:
    """Wait until every image of the page has loaded or failed (when an injected onload/onerror would run), then
    two animation frames more."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([...document.images].map(i => i.complete ? 0 : new Promise(r => {"
        "  i.addEventListener('load', r); i.addEventListener('error', r); })))"
        ".then(() => requestAnimationFrame(() => requestAnimationFrame(done)));"
    )


# ------------------------------------------------------------------ uploads


def _raw(host: str, head: bytes, body_parts, timeout: float = 15) -> bytes:
    """Send a request head and body parts on a raw socket; return whatever the server answered."""
    hostname, port = host.split(":")
    with socket.create_connection((hostname, int(port)), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for part in body_parts:
                sock.sendall(part)
        except OSError:  # the server answered and closed: what we want
            pass
        sock.settimeout(timeout)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except TimeoutError:
            pass
        return answer


PART_HEAD = b'--zz\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n\r\n'


def _upload_head(host: str, length: str) -> bytes:
    framing = f"Content-Length: {length}" if length != "chunked" else "Transfer-Encoding: chunked"
    return (
        f"POST /api/search/image HTTP/1.1\r\nHost: {host}\r\n{framing}\r\n"
        "Content-Type: multipart/form-data; boundary=zz\r\n\r\n"
    ).encode()


def test_oversized_upload_is_refused_from_its_length(server):
    started = time.monotonic()
    answer = _raw(server, _upload_head(server, str(200 << 20)), [PART_HEAD + b"x" * 1024])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 10, "refused without waiting for 200 MiB"


def test_oversized_chunked_upload_is_cut_off(server):
    chunk = b"x" * (1 << 20)
    chunks = [PART_HEAD] + [chunk] * (4 * (MAX_UPLOAD_BYTES >> 20))
    parts = (f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
    answer = _raw(server, _upload_head(server, "chunked"), parts)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.parametrize("name", ["pixel-bomb.png", "pixel-bomb.gif"])
def test_upload_pixel_limit(client, tmp_path, name):
    (path,) = make_corpus(tmp_path, tuple(c for c in CASES if c.name == name))
    response = client.post("/api/search/image", files={"image": (name, Path(path).read_bytes())})
    assert "bomb" in assert_json_error(response, 422)


def test_upload_of_many_megapixels_that_decodes_to_little_is_refused(client):
    bilevel = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bilevel, "PNG")  # 144 Mpx in a few hundred kB
    assert "pixels" in assert_json_error(client.post("/api/search/image", files={"image": ("b.png", bilevel)}), 422)


# ------------------------------------------------------------------ only library files


TRAVERSALS = (
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e%2fapp.py",
    "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%252e%252e%252fapp.py",
    "/static/..\\app.py",
    "/static//etc/passwd",
    "//etc/passwd",
    "/api/files/..%2f..%2fetc%2fpasswd/original",
    "/api/files/1%2f..%2f..%2fetc%2fpasswd/original",
    "/api/files/%2Fetc%2Fpasswd/original",
    "/../../../../etc/passwd",
)


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_reads_nothing(server, path):
    answer = _raw(server, f"GET {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n".encode(), [])
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 404, 422), answer[:300]
    assert b"root:" not in answer and b"import " not in answer


@pytest.mark.parametrize("what", ["original", "thumbnail"])
def test_symlink_swapped_in_after_indexing_is_not_followed(tmp_path, encoder, what):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    target = photo(lib / "holiday.jpg", 1)
    index_library(db, [lib], encoder, IndexOptions(commit_every=0))
    outside = photo(tmp_path / "private" / "other.jpg", 2)
    target.unlink()
    os.symlink(outside, target)
    response = client_for(db, encoder).get(f"/api/files/{_id(db, target)}/{what}")
    assert_json_error(response)
    assert response.status_code in (403, 404)


def test_folder_swapped_for_a_symlink_is_not_followed(tmp_path, encoder):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    inside = photo(lib / "album" / "a.jpg", 1)
    index_library(db, [lib], encoder, IndexOptions(commit_every=0))
    photo(tmp_path / "elsewhere" / "a.jpg", 2)
    (lib / "album").rename(tmp_path / "album.bak")
    os.symlink(tmp_path / "elsewhere", lib / "album")
    assert_json_error(client_for(db, encoder).get(f"/api/files/{_id(db, inside)}/original"))


# ------------------------------------------------------------------ auth, listings, content types


def test_serving_beyond_loopback_needs_a_token(site, capsys):
    assert main(["serve", "--db", str(site[1]), "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/openapi.json", "/docs", "/api/status", "/api/search?q=x"])
def test_every_route_needs_the_token_off_loopback(site, encoder, path):
    secured = client_for(site[1], encoder, base_url="http://192.0.2.10:5000", token="s3cret")
    assert_json_error(secured.get(path), 401)
    assert secured.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    rebinding = client_for(site[1], encoder, base_url="http://127.0.0.1.attacker.example:5000")
    assert_json_error(rebinding.get(path), 403)


@pytest.mark.parametrize("token", ["s3cret", "通行证"])
def test_tokens_in_any_script_are_compared_not_crashed(site, encoder, token):
    secured = client_for(site[1], encoder, base_url="http://192.0.2.10:5000", token=token)
    for given, status in (("密码", 401), (token, 200)):
        bearer = secured.get("/api/status", headers={"Authorization": f"Bearer {given}".encode()})
        in_query = secured.get("/api/status", params={"token": given})
        assert (bearer.status_code, in_query.status_code) == (status, status), (given, bearer.text, in_query.text)
    assert secured.get("/", params={"token": token}).status_code == 200
    assert token not in secured.cookies.get("zhclip_token"), "the cookie holds a digest, not the secret"
    assert secured.get("/api/status").status_code == 200, "the page's cookie authorises what follows"


@pytest.mark.parametrize("path", ["/static/", "/static", "/api/files/", "/api/files", "/api/", "/api"])
def test_no_directory_listing(client, path):
    response = client.get(path)
    assert_json_error(response)
    assert "app.js" not in response.text and "Index of" not in response.text


def test_content_types_and_nosniff(client, site):
    lib, db = site
    hostile = _id(db, lib / HOSTILE_NAMES[0])
    expected = {
        "/": "text/html; charset=utf-8",
        "/static/app.js": "javascript",
        "/static/style.css": "text/css",
        "/api/status": "application/json",
        "/api/nothing": "application/json",
        f"/api/files/{hostile}/thumbnail": "image/jpeg",
        f"/api/files/{hostile}/original": "image/jpeg",
        f"/api/files/{_id(db, lib / HOSTILE_NAMES[2])}/original": "image/png",
        f"/api/files/{_id(db, lib / 'clip.mp4')}/original": "video/mp4",
    }
    for path, content_type in expected.items():
        response = client.get(path)
        assert content_type in response.headers["content-type"], (path, response.headers["content-type"])
        assert response.headers.get("x-content-type-options") == "nosniff", path
    disposition = client.get(f"/api/files/{_id(db, lib / HOSTILE_NAMES[4])}/original").headers["content-disposition"]
    assert not set('\n"<>') & set(disposition.split("filename", 1)[1]), disposition


def test_server_answers_json_errors_on_a_real_socket(server):
    status, body = request(server, "GET", "/api/files/999999/original")
    assert status == 404 and body.startswith(b'{"error"')


def test_library_indexed_through_a_linked_folder_is_still_served(tmp_path, encoder):
    photo(tmp_path / "real" / "a.jpg", 1)
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    db = tmp_path / "lib.db"
    index_library(db, [tmp_path / "linked"], encoder, IndexOptions(commit_every=0))
    response = client_for(db, encoder).get(f"/api/files/{_id(db, tmp_path / 'linked' / 'a.jpg')}/original")
    assert response.status_code == 200 and response.content == (tmp_path / "real" / "a.jpg").read_bytes()


def test_thumbnail_of_a_16bit_grey_photo_keeps_its_tones(tmp_path, encoder):
    (path,) = make_corpus(tmp_path / "lib", tuple(c for c in CASES if c.name == "grey-16bit.png"))
    index_library(tmp_path / "lib.db", [tmp_path / "lib"], encoder, IndexOptions(commit_every=0))
    response = client_for(tmp_path / "lib.db", encoder).get(f"/api/files/{_id(tmp_path / 'lib.db', path)}/thumbnail")
    grey = np.asarray(Image.open(io.BytesIO(response.content)).convert("L"), np.float32)
    assert abs(grey.mean() - 127.5) < 8, "a black-to-white ramp, not a white square"
