import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from zhclip.errors import InputError
from zhclip.search import Library, Searcher, cutoff, query
from zhclip.web import create_app
from zhclip.web.security import check_bind

from .conftest import HOSTILE_NAME


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]["message"]


def _video_result(client):
    results = client.get("/api/search", params={"q": "视频", "kind": "video"}).json()["results"]
    assert results and results[0]["kind"] == "video"
    return results[0]


def test_search_status_and_openapi(client):
    body = client.get("/api/search", params={"q": "一张照片", "top": 5}).json()
    assert body["count"] == 5
    first = body["results"][0]
    assert {"file_id", "name", "path", "score", "kind"} <= set(first)
    status = client.get("/api/status").json()
    assert status["counts"]["files"] == 8 and status["indexing"]["running"] is False
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/search",
        "/api/search/image",
        "/api/similar/{file_id}",
        "/api/files/{file_id}/thumbnail",
        "/api/files/{file_id}/original",
        "/api/files/{file_id}/clip",
        "/api/status",
        "/api/rescan",
    ):
        assert path in spec["paths"], path


def test_image_upload_and_similar(client, web_library):
    lib, _, _ = web_library
    data = (lib / "photo_3.jpg").read_bytes()
    found = client.post("/api/search/image", files={"image": ("q.jpg", data, "image/jpeg")}).json()
    assert found["results"][0]["name"] == "photo_3.jpg"
    similar = client.get(f"/api/similar/{found['results'][0]['file_id']}").json()["results"]
    assert "photo_3.jpg" not in {r["name"] for r in similar}
    _error(client.post("/api/search/image", files={"image": ("x.jpg", b"not an image", "image/jpeg")}), 422)
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
    assert "pixels" in _error(client.post("/api/search/image", files={"image": ("b.png", bomb.getvalue())}), 422)
    huge = b"\xff\xd8" + bytes(25 << 20)
    assert "MiB" in _error(client.post("/api/search/image", files={"image": ("h.jpg", huge)}), 413)


def test_thumbnail_original_with_range_and_clip(client):
    video = _video_result(client)
    vid = video["file_id"]
    thumb = client.get(f"/api/files/{vid}/thumbnail", params={"at": video["frame"], "size": "256"})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size[0] <= 256
    ranged = client.get(f"/api/files/{vid}/original", headers={"Range": "bytes=10-109"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert ranged.headers["content-type"] == "video/mp4"
    clip = client.get(f"/api/files/{vid}/clip", params={"start": 2, "end": 4})
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
    assert "attachment" in clip.headers["content-disposition"]
    _error(client.get(f"/api/files/{vid}/clip", params={"start": 4, "end": 2}), 400)


@pytest.mark.parametrize(
    "url",
    [
        "/api/files/999999",
        "/api/files/999999/original",
        "/api/files/999999/thumbnail",
        "/api/similar/424242",
        "/api/files/..%2F..%2Fetc%2Fpasswd/original",
        "/api/files/%2Fetc%2Fpasswd/original",
        "/static/..%2F..%2F..%2Fsearch%2Fstore.py",
        "/static/../app.py",
        "/static/",
        "/etc/passwd",
    ],
)
def test_unknown_ids_and_traversal_get_404_json(client, url):
    response = client.get(url)
    assert response.status_code in (404, 422), (url, response.status_code)
    _error(response, response.status_code)
    assert "root:" not in response.text and "import" not in response.text


def test_bad_parameters_are_json_errors(client):
    assert "q" in _error(client.get("/api/search"), 422)
    assert "top" in _error(client.get("/api/search", params={"q": "x", "top": 0}), 422)
    assert "after" in _error(client.get("/api/search", params={"q": "x", "after": "yesterday"}), 400)


def test_hostile_file_name_is_returned_as_data(client):
    results = client.get("/api/search", params={"q": "照片", "top": 20}).json()["results"]
    assert HOSTILE_NAME in {r["name"] for r in results}
    page = client.get("/").text
    assert "innerHTML" not in client.get("/static/app.js").text and '<script src="/static/app.js">' in page


def test_token_auth_host_and_origin_checks(searcher):
    secured = TestClient(create_app(searcher, token="s3cret"), base_url="http://192.0.2.1:5000")
    _error(secured.get("/api/status"), 401)
    _error(secured.get("/api/status", headers={"Authorization": "Bearer wrong"}), 401)
    assert secured.get("/api/status", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    first = secured.get("/", params={"token": "s3cret"})
    assert first.status_code == 200 and "zhclip_token" in first.headers["set-cookie"]
    assert secured.get("/api/status").status_code == 200  # the cookie now
    rebinding = TestClient(create_app(searcher), base_url="http://attacker.example:5000")
    _error(rebinding.get("/api/status"), 403)
    local = TestClient(create_app(searcher), base_url="http://localhost:5000")
    _error(local.post("/api/rescan", headers={"Origin": "http://attacker.example"}), 403)


def test_non_loopback_bind_needs_a_token():
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "token")
    with pytest.raises(InputError, match="--token"):
        check_bind("0.0.0.0", None)


def _calibrating_client(searcher, monkeypatch) -> TestClient:
    """A client whose library has an automatic threshold (the test library is under `MIN_VECTORS`)."""
    monkeypatch.setattr(cutoff, "MIN_VECTORS", 1)
    return TestClient(
        create_app(Searcher(Library(searcher.library.reader, searcher.encoder))), base_url="http://127.0.0.1:5000"
    )


def test_weak_results_are_marked_after_the_others_and_never_hidden(searcher, monkeypatch):
    client = _calibrating_client(searcher, monkeypatch)
    auto = client.get("/api/search", params={"q": "红色", "top": 40}).json()
    everything = client.get("/api/search", params={"q": "红色", "top": 40, "min_score": -1}).json()
    assert set(auto) == {"results", "count", "offset", "next_offset", "cutoff"}
    assert [r["file_id"] for r in auto["results"]] == [r["file_id"] for r in everything["results"]]
    assert auto["cutoff"] is not None and all(r["weak"] == (r["score"] < auto["cutoff"]) for r in auto["results"])
    assert [r["weak"] for r in auto["results"]] == sorted(r["weak"] for r in auto["results"]), "strong ones first"
    assert everything["cutoff"] is None and not any(r["weak"] for r in everything["results"])
    paged, offset = [], 0
    while offset is not None:
        body = client.get("/api/search", params={"q": "红色", "top": 3, "offset": offset}).json()
        paged, offset = paged + body["results"], body["next_offset"]
    assert [(r["file_id"], r["weak"]) for r in paged] == [(r["file_id"], r["weak"]) for r in auto["results"]]


def test_the_first_page_shows_an_answer_under_the_threshold_marked_weak(searcher, web_library, monkeypatch):
    lib, _, _ = web_library
    client = _calibrating_client(searcher, monkeypatch)
    monkeypatch.setattr(query, "automatic_cutoff", lambda background, best: best + 0.01)  # above every score
    data = (lib / "photo_3.jpg").read_bytes()
    found = client.post("/api/search/image", files={"image": ("q.jpg", data, "image/jpeg")}).json()
    assert found["count"] > 0 and found["results"][0]["name"] == "photo_3.jpg"
    assert found["results"][0]["weak"] is True and found["results"][0]["score"] < found["cutoff"]
    text = client.get("/api/search", params={"q": "一张照片", "top": 5}).json()
    assert text["count"] == 5 and all(r["weak"] for r in text["results"])


def test_an_explicit_min_score_filters_exactly(client):
    whole = client.get("/api/search", params={"q": "红色", "top": 40, "min_score": -1}).json()["results"]
    scores = sorted({r["score"] for r in whole})
    middle = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2  # between two results' scores
    kept = client.get("/api/search", params={"q": "红色", "top": 40, "min_score": middle}).json()
    assert [r["file_id"] for r in kept["results"]] == [r["file_id"] for r in whole if r["score"] >= middle]
    assert kept["cutoff"] is None and not any(r["weak"] for r in kept["results"])
    assert client.get("/api/search", params={"q": "红色", "min_score": 1}).json()["count"] == 0


def test_small_libraries_have_no_automatic_threshold(client):
    body = client.get("/api/search", params={"q": "照片"}).json()
    assert body["cutoff"] is None and body["count"] == 8 and not any(r["weak"] for r in body["results"])
