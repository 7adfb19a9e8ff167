"""Browse, paging and sorting through the HTTP API (weak results and `min_score`: test_api.py)."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from zhclip.search import IndexOptions, Library, Reader, Searcher, index_library
from zhclip.web import create_app

from ..search.media import photo
from .test_api import _error


def _all(client, url, params, key="items"):
    """Every page of a listing, following next_offset."""
    seen, offset = [], 0
    while offset is not None:
        body = client.get(url, params={**params, "offset": offset}).json()
        seen += body[key]
        offset = body["next_offset"]
    return seen


def test_browse_newest_first_in_pages_with_filters(client):
    first = client.get("/api/browse", params={"top": 3}).json()
    assert first["total"] == 8 and first["count"] == 3 and first["next_offset"] == 3 and first["next_cursor"]
    assert {"file_id", "path", "name", "kind", "date", "size"} <= set(first["items"][0])
    items = _all(client, "/api/browse", {"top": 3})
    dates = [i["date"] for i in items]
    assert len({i["file_id"] for i in items}) == 8 and dates == sorted(dates, reverse=True)
    oldest = _all(client, "/api/browse", {"top": 5, "sort": "date"})
    assert [i["date"] for i in oldest] == sorted(dates) and len(oldest) == 8
    by_path = [i["path"] for i in _all(client, "/api/browse", {"top": 4, "sort": "path"})]
    assert by_path == sorted(by_path)
    videos = client.get("/api/browse", params={"kind": "video"}).json()
    assert videos["total"] == 1 and videos["items"][0]["kind"] == "video" and videos["next_offset"] is None
    assert client.get("/api/browse", params={"path_contains": "photo_3"}).json()["total"] == 1
    months = client.get("/api/timeline").json()["months"]
    assert sum(m["count"] for m in months) == 8 and all(len(m["month"]) == 7 for m in months)


def test_browse_cursor_pages_match_offset_pages(client):
    by_offset = [i["file_id"] for i in _all(client, "/api/browse", {"top": 3})]
    by_cursor, cursor = [], None
    while True:
        body = client.get("/api/browse", params={"top": 3, **({"cursor": cursor} if cursor else {})}).json()
        by_cursor += [i["file_id"] for i in body["items"]]
        if not (cursor := body["next_cursor"]):
            break
    assert by_cursor == by_offset


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/api/browse", {"offset": -1}, "offset"),
        ("/api/browse", {"offset": 10**9}, "offset"),
        ("/api/browse", {"top": 0}, "top"),
        ("/api/browse", {"top": 501}, "top"),
        ("/api/browse", {"sort": "size"}, "sort"),
        ("/api/search", {"q": "x", "offset": -1}, "offset"),
        ("/api/search", {"q": "x", "offset": 10**6}, "offset"),
        ("/api/search", {"q": "x", "sort": "random"}, "sort"),
        ("/api/similar/1", {"offset": -5}, "offset"),
    ],
)
def test_offset_top_and_sort_out_of_range_are_422(client, url, params, field):
    assert field in _error(client.get(url, params=params), 422)


def test_a_foreign_cursor_is_a_clear_400(client):
    assert "cursor" in _error(client.get("/api/browse", params={"cursor": "not-a-cursor"}), 400)
    path_cursor = client.get("/api/browse", params={"top": 2, "sort": "path"}).json()["next_cursor"]
    assert "cursor" in _error(client.get("/api/browse", params={"cursor": path_cursor}), 400)


def test_search_pages_are_disjoint_and_add_up_to_the_ranked_list(client):
    whole = client.get("/api/search", params={"q": "照片", "top": 40, "min_score": -1}).json()["results"]
    pages = _all(client, "/api/search", {"q": "照片", "top": 3, "min_score": -1}, key="results")
    key = [(r["file_id"], r["start"]) for r in pages]
    assert len(key) == len(set(key)) and key == [(r["file_id"], r["start"]) for r in whole]
    newest = client.get("/api/search", params={"q": "照片", "sort": "newest", "min_score": -1}).json()["results"]
    assert [r["date"] for r in newest] == sorted((r["date"] for r in newest), reverse=True)
    assert {(r["file_id"], r["start"]) for r in newest} == set(key)
    oldest = client.get("/api/search", params={"q": "照片", "sort": "oldest", "min_score": -1}).json()["results"]
    assert [r["date"] for r in oldest] == sorted(r["date"] for r in oldest)
    first = whole[0]["file_id"]
    similar = _all(client, f"/api/similar/{first}", {"top": 2, "min_score": -1}, key="results")
    assert first not in {r["file_id"] for r in similar} and len(similar) >= 6


def test_browse_pages_stay_disjoint_while_indexing_adds_files(tmp_path, searcher):
    encoder = searcher.encoder
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for i in range(24):
        photo(lib / "old" / f"p{i:02d}.jpg", i)
    index_library(db, [lib], encoder, IndexOptions(commit_every=0))
    before = {r.path for r in Reader(db).browse(_no_filters(), True, 0, 1000)}
    client = TestClient(create_app(Searcher(Library(Reader(db), encoder))), base_url="http://127.0.0.1:5000")

    progressed = threading.Event()  # the indexer has done one more file: a page now may see a new one

    def add_files():
        for i in range(12):
            photo(lib / "new" / f"n{i:02d}.jpg", 100 + i)
        index_library(db, [lib], encoder, IndexOptions(commit_every=0), progress=lambda _: progressed.set())

    adder = threading.Thread(target=add_files)
    adder.start()
    for sort in ("-date", "date"):
        seen, cursor = [], None
        while True:
            body = client.get("/api/browse", params={"top": 2, "sort": sort, **({"cursor": cursor} if cursor else {})})
            seen += [i["path"] for i in body.json()["items"]]
            if adder.is_alive():  # interleave pages with commits
                progressed.wait(10)
                progressed.clear()
            if not (cursor := body.json()["next_cursor"]):
                break
        assert len(seen) == len(set(seen)), f"an item twice ({sort})"
        assert before <= set(seen), f"lost {sorted(before - set(seen))} ({sort})"
    adder.join(120)


def _no_filters():
    from zhclip.search import Filters

    return Filters()


@pytest.mark.parametrize(
    ("header", "query", "lang"),
    [
        ("en-US,en;q=0.9", "", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "", "zh-CN"),
        ("fr-FR,en;q=0.5,zh;q=0.7", "", "zh-CN"),
        ("de", "", "zh-CN"),
        ("zh-CN", "?lang=en", "en"),
        ("en", "?lang=zh", "zh-CN"),
    ],
)
def test_page_language_from_accept_language_and_lang(client, header, query, lang):
    page = client.get(f"/{query}", headers={"Accept-Language": header})
    assert page.status_code == 200 and f'<html lang="{lang}">' in page.text
    assert "i18n.js" in page.text


def test_segment_download_keeps_audio_and_takes_padding(tmp_path, searcher):
    import av

    encoder = searcher.encoder

    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    _video_with_sound(lib / "talk.mp4", seconds=8)
    index_library(db, [lib], encoder, IndexOptions(commit_every=0))
    client = TestClient(create_app(Searcher(Library(Reader(db), encoder))), base_url="http://127.0.0.1:5000")
    file_id = client.get("/api/browse").json()["items"][0]["file_id"]
    plain = client.get(f"/api/files/{file_id}/clip", params={"start": 3, "end": 5})
    padded = client.get(f"/api/files/{file_id}/clip", params={"start": 3, "end": 5, "pad": 2})
    assert plain.status_code == padded.status_code == 200
    assert "1-7s" in padded.headers["content-disposition"]
    durations = []
    for response in (plain, padded):
        path = tmp_path / "clip.mp4"
        path.write_bytes(response.content)
        with av.open(str(path)) as clip:
            assert len(clip.streams.audio) == 1, "the segment keeps its sound"
            durations.append(float(clip.duration / av.time_base))
    assert durations[1] >= durations[0] + 3
    _error(client.get(f"/api/files/{file_id}/clip", params={"start": 3, "end": 5, "pad": -1}), 422)


def _video_with_sound(path, seconds: int, fps: int = 10) -> None:
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"g": str(fps)})
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for i in range(seconds * fps):
            frame = np.full((120, 160, 3), (i * 3) % 255, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        samples = np.sin(np.arange(seconds * 16000) / 16000 * 2 * np.pi * 440).astype(np.float32)[None]
        for start in range(0, samples.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(samples[:, start : start + 1024], format="flt", layout="mono")
            chunk.sample_rate = 16000
            container.mux(audio.encode(chunk))
        container.mux(video.encode())
        container.mux(audio.encode())
