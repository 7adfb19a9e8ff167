"""Subtitles while indexing (issue 31): sidecars in several encodings and streams inside containers found by
`--match subtitles` (also on the command line) with the cue's span; a changed sidecar read again without
decoding the video; a broken sidecar skipped with its reason; a killed pass resumed; an unplugged folder keeping
its subtitles."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import zhclip.search.decode
from zhclip.search import Query, Store
from zhclip.search.ranking import search
from zhclip.search.subtitles import reading
from zhclip.search.subtitles.reading import read_subtitles
from zhclip.search.text.lines import content_lines

from .media import video

ASS_HEAD = (
    "[Script Info]\nScriptType: v4.00+\n\n[Events]\n"
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)
# video -> (sidecar, its encoding, cue start, cue end, text)
SIDECARS = {
    "lecture.mp4": ("lecture.zh.srt", "utf-8-sig", 1.0, 3.0, "我们明天去北京开会"),
    "cat.mp4": ("cat.chs.ass", "utf-16", 2.0, 3.5, "小猫在沙发上睡觉"),
    "hike.mp4": ("hike.SRT", "gbk", 0.5, 1.5, "周末一起去爬山"),
    "news.mp4": ("news.zh-Hans.vtt", "gb18030", 2.5, 3.9, "今天的新闻到此结束"),
}
COLORS = {"lecture.mp4": ["red", "blue"], "cat.mp4": ["green", "yellow"]}
COLORS |= {"hike.mp4": ["blue", "red"], "news.mp4": ["yellow", "green"]}


def cue_text(name: str, start: float, end: float, text: str) -> str:
    if name.lower().endswith(".ass"):
        return ASS_HEAD + f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Default,,0,0,0,,{{\\b1}}{text}{{\\b0}}\n"
    if name.endswith(".vtt"):
        return f"WEBVTT\n\n{_srt_time(start, '.')} --> {_srt_time(end, '.')}\n{text}\n"
    return f"1\n{_srt_time(start, ',')} --> {_srt_time(end, ',')}\n{text}\n"


def _srt_time(seconds: float, comma: str) -> str:
    return f"00:00:{int(seconds):02d}{comma}{round(seconds % 1 * 1000):03d}"


def _ass_time(seconds: float) -> str:
    return f"0:00:{seconds:05.2f}"


def write_sidecar(path: Path, encoding: str, start: float, end: float, text: str) -> Path:
    path.write_bytes(cue_text(path.name, start, end, text).replace("\n", "\r\n").encode(encoding))
    return path


@pytest.fixture
def library(tmp_path) -> tuple[Path, Path]:
    """(folder, library): four videos, each beside a sidecar in its own encoding; a Big5 one and one with
    broken timing beside two of them."""
    folder = tmp_path / "videos"
    for name, colors in COLORS.items():
        video(folder / name, colors)
        write_sidecar(folder / SIDECARS[name][0], *SIDECARS[name][1:])
    write_sidecar(folder / "hike.cht.srt", "big5", 0.5, 1.5, "週末一起去爬山")
    write_sidecar(folder / "news.en.srt", "utf-8", 3.9, 2.5, "That is all for today")  # ends before it starts
    return folder, tmp_path / "lib.db"


def overlap(result, start: float, end: float) -> float:
    """Intersection over union of the matched line's span and the cue's (the result's segment is snapped out to
    the shot boundaries around the line)."""
    line_start, line_end = result.text["start"], result.text["end"]
    shared = min(line_end, end) - max(line_start, start)
    return max(0.0, shared) / (max(line_end, end) - min(line_start, start))


def found(searcher, text: str) -> list:
    return [r for r in search(searcher, Query(text=text, top=5), "subtitles") if r.text["source"] == "subtitles"]


def test_sidecars_in_every_encoding_found_with_their_cue_span(library, index, searcher, caplog):
    folder, db = library
    with caplog.at_level(logging.WARNING, logger="zhclip.search"):
        summary = index(db, folder)
    assert summary.new == 4 and not summary.failed, "the video beside a broken sidecar is indexed"
    assert "subtitles read for 4 videos (4 cues, 2 with an unreadable file)" in summary.line()
    assert "hike.cht.srt: unknown encoding" in caplog.text
    assert "news.en.srt: broken timing: cue 1 runs from 3.900 s to 2.500 s" in caplog.text
    s = searcher(db)
    for name, (_, _, start, end, text) in SIDECARS.items():
        results = found(s, text[1:-1])  # part of the cue
        assert [Path(r.path).name for r in results] == [name]
        assert results[0].text["line"] == text
        assert overlap(results[0], start, end) >= 0.9, (name, results[0].start, results[0].end)


def test_a_changed_sidecar_is_read_again_without_decoding_the_video(library, index, searcher, monkeypatch):
    folder, db = library
    index(db, folder)
    decoded = []
    read_frames = zhclip.search.decode.read_video_frames

    def counted(*args, **kwargs):
        decoded.append(args[0])
        return read_frames(*args, **kwargs)

    monkeypatch.setattr(zhclip.search.decode, "read_video_frames", counted)
    assert index(db, folder).line().count("subtitles") == 0, "nothing changed: nothing read"
    sidecar = write_sidecar(folder / "lecture.zh.srt", "utf-8", 1.0, 3.0, "下午三点开会")
    later = sidecar.stat().st_mtime + 10
    os.utime(sidecar, (later, later))
    write_sidecar(folder / "cat.en.srt", "utf-8", 0.0, 1.0, "The cat sleeps")
    summary = index(db, folder)
    assert "subtitles read for 2 videos (3 cues, 0 with an unreadable file)" in summary.line()
    assert summary.unchanged == 4 and summary.new == summary.updated == 0
    assert decoded == [], "no video was decoded again"
    s = searcher(db)
    assert [Path(r.path).name for r in found(s, "三点开会")] == ["lecture.mp4"]
    assert found(s, "北京开会") == []
    assert [Path(r.path).name for r in found(s, "cat sleeps")] == ["cat.mp4"]
    video(folder / "new.mp4", ["red", "yellow"])
    index(db, folder)
    assert decoded == [str(folder / "new.mp4")], "the counter sees a video that is decoded"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_streams_inside_containers_are_found(tmp_path, index, searcher):
    folder, db = tmp_path / "videos", tmp_path / "lib.db"
    plain = video(tmp_path / "plain.mp4", ["red", "green"])
    for name, codec, text in [("tagged.mp4", "mov_text", "今天天气很好"), ("show.mkv", "srt", "晚上一起看电影")]:
        source = write_sidecar(tmp_path / f"{name}.srt", "utf-8", 1.5, 3.0, text)
        folder.mkdir(exist_ok=True)
        command = ["ffmpeg", "-loglevel", "error", "-i", plain, "-i", source, "-c:v", "copy", "-c:s", codec]
        subprocess.run([*map(str, command), str(folder / name)], check=True, timeout=60)
    assert "subtitles read for 2 videos (2 cues, 0 with" in index(db, folder).line()
    s = searcher(db)
    for name, text in [("tagged.mp4", "天气很好"), ("show.mkv", "一起看电影")]:
        (result,) = found(s, text)
        assert Path(result.path).name == name and overlap(result, 1.5, 3.0) >= 0.9


def test_a_killed_pass_resumes_where_it_stopped(library, index, monkeypatch):
    folder, db = library
    index(db, folder)
    store = Store(db)
    with store.transaction() as conn:
        conn.execute("DELETE FROM text_contents WHERE source = 'subtitles'")
        conn.execute("DELETE FROM text_lines WHERE source = 'subtitles'")
    read_video, seen = reading._read, []

    def killed_after_two(video):
        if len(seen) == 2:
            raise KeyboardInterrupt
        seen.append(video.content_id)
        return read_video(video)

    monkeypatch.setattr(reading, "_read", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        read_subtitles(store, commit_every=0.0)
    monkeypatch.setattr(reading, "_read", read_video)
    assert read_subtitles(store, commit_every=0.0).read == 2, "only the two not saved are read again"
    store.close()


def test_an_unplugged_folder_keeps_its_subtitles(library, index):
    folder, db = library
    index(db, folder)
    folder.rename(folder.with_name("elsewhere"))
    store = Store(db)
    assert read_subtitles(store).read == 0
    kept = [line.text for cid in store.content_ids().values() for _, line in content_lines(store.conn, cid)]
    assert sorted(kept) == sorted(text for *_, text in SIDECARS.values())
    store.close()


def test_cli_search_match_subtitles_and_library_info(library, index, cli):
    folder, db = library
    index(db, folder)
    done = cli("search", "明天去北京", "--db", db, "--match", "subtitles", "--json", "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    (first, *_) = json.loads(done.stdout)
    assert Path(first["path"]).name == "lecture.mp4"
    assert first["text"] | {"span": None} == {
        "source": "subtitles",
        "line": "我们明天去北京开会",
        "start": 1.0,
        "end": 3.0,
        "box": None,
        "span": None,
    }
    info = cli("library", "info", "--db", db)
    assert "subtitles 4 videos read, 4 with subtitles (4 cues), 2 with an unreadable file" in info.stdout
    facts = json.loads(cli("library", "info", "--db", db, "--json").stdout)
    assert facts["subtitles"]["contents_with_text"] == 4
    assert "speech  off (zhclip index --speech turns it on)" in info.stdout
    assert facts["speech"]["on"] is False and facts["speech"]["contents"] == 0
