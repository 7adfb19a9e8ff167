"""zhclip.media.subtitles: sidecar files found by name, decoded in each encoding, parsed; streams inside containers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from zhclip.errors import DecodeError
from zhclip.media.subtitles import (
    Cue,
    decode_text,
    folder_sidecars,
    plain_text,
    read_sidecar,
    read_streams,
    sidecars,
)

SRT = """1
00:00:01,000 --> 00:00:03,500
我们明天去<i>北京</i>
下午开会

2
00:00:04,000 --> 00:00:06,250
週末一起去爬山

3
00:00:07,000 --> 00:00:08,000

"""
CUES = [Cue(1.0, 3.5, "我们明天去北京 下午开会"), Cue(4.0, 6.25, "週末一起去爬山")]
ASS = r"""[Script Info]
ScriptType: v4.00+

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,{\pos(10,10)\b1}小猫{\b0}在睡觉\N沙发上
Dialogue: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,{\p1}m 0 0 l 100 0 100 100{\p0}
Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,台词{\p2}m 0 0 l 1 1{\p0}结束
Comment: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,这是注释
"""
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def test_sidecars_by_name_tag_and_suffix_case(tmp_path):
    names = ["clip.mp4", "clip.SRT", "clip.zh.srt", "clip.chs.ass", "clip.zh-Hans.vtt", "clip.ssa", "clip.txt"]
    names += ["clip.cut.mp4", "clip.cut.srt", "clip.cut.en.srt", "clipper.srt", "other.srt"]
    for name in names:
        (tmp_path / name).write_text("x")
    found = [p.name for p in sidecars(tmp_path / "clip.mp4")]
    assert found == ["clip.SRT", "clip.chs.ass", "clip.ssa", "clip.zh-Hans.vtt", "clip.zh.srt"]
    assert [p.name for p in sidecars(tmp_path / "clip.cut.mp4")] == ["clip.cut.en.srt", "clip.cut.srt"]
    listing = ["clip.mp4", "clip.mkv", "clip.Vtt", "a.b.c.srt", "a.b.mp4", "a.mp4", ".srt", "x.srt"]
    assert folder_sidecars(tmp_path, listing) == {
        "clip.mp4": [tmp_path / "clip.Vtt"],
        "clip.mkv": [tmp_path / "clip.Vtt"],
        "a.b.mp4": [tmp_path / "a.b.c.srt"],
    }


@pytest.mark.parametrize(
    "encoding, bom",
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")]
    + [("gb18030", b""), ("gbk", b"")],
)
def test_sidecar_in_each_encoding(tmp_path, encoding, bom):
    path = tmp_path / "clip.zh.srt"
    path.write_bytes(bom + SRT.replace("\n", "\r\n").encode(encoding))
    subtitles = read_sidecar(path, tmp_path / "clip.mp4")
    assert list(subtitles.cues) == CUES  # the empty third cue left out
    assert subtitles.language == "zh" and subtitles.origin == str(path)


def test_traditional_chinese_in_gbk_reads():
    text = "1\n00:00:01,000 --> 00:00:02,000\n我們明天去北京出差，這款手機的電池可以用一整天。\n"
    assert decode_text(text.encode("gbk"), "x.srt") == text


@pytest.mark.parametrize(
    "data",
    [
        ("1\n00:00:01,000 --> 00:00:02,000\n我們明天去北京出差，這款手機的電池可以用一整天。\n").encode("big5"),
        ("1\n00:00:01,000 --> 00:00:02,000\n今日は良い天気ですね。明日は東京へ行きます。\n").encode("shift_jis"),
        "1\n00:00:01,000 --> 00:00:02,000\nCafé déjà vu\n".encode("latin-1"),
        SRT.encode("utf-16-le"),  # no byte-order mark
    ],
    ids=["big5", "shift-jis", "latin-1", "utf-16-without-bom"],
)
def test_unknown_encoding_is_refused_with_its_reason(tmp_path, data):
    path = tmp_path / "clip.srt"
    path.write_bytes(data)
    with pytest.raises(DecodeError, match="unknown encoding") as caught:
        read_sidecar(path)
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("1\n00:00:05,000 --> 00:00:03,000\n你好\n", "cue 1 runs from 5.000 s to 3.000 s"),
        ("1\n00:00:01,000 --> 00:00:02,000\n你好\n\n2\n00:00:0x,000 --> 00:00:06,000\n再见\n", "timing line"),
        ("这只是一段文字，没有时间。\n第二行\n", "not a subtitle file"),
        ("   \n", "empty subtitle file"),
    ],
    ids=["ends-before-start", "garbled-timing", "no-timing", "empty"],
)
def test_broken_files_are_refused_with_their_reason(tmp_path, text, reason):
    path = tmp_path / "clip.srt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DecodeError, match=reason):
        read_sidecar(path)


def test_an_arrow_in_dialogue_is_not_a_timing_line(tmp_path):
    path = tmp_path / "clip.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\n从这里 --> 到那里\n", encoding="utf-8")
    assert list(read_sidecar(path).cues) == [Cue(1.0, 2.0, "从这里 --> 到那里")]


def test_ass_tags_drawings_comments_and_line_breaks(tmp_path):
    path = tmp_path / "clip.ass"
    path.write_text(ASS, encoding="utf-8-sig")
    assert list(read_sidecar(path).cues) == [Cue(1.0, 2.5, "小猫在睡觉 沙发上"), Cue(3.0, 4.0, "台词结束")]
    assert plain_text(r"{\an8}一\h二\n三") == "一 二 三"


def test_webvtt_notes_and_voice_tags(tmp_path):
    path = tmp_path / "clip.zh-Hans.vtt"
    path.write_text(
        "WEBVTT\n\nNOTE made by hand\n\n00:01.000 --> 00:02.500 line:0\n<v 小王>你好</v>\n\n"
        "NOTE second note\nover two lines\n\n00:03.000 --> 00:04.000\n<c.yellow>黄色</c>的字\n",
        encoding="utf-8",
    )
    subtitles = read_sidecar(path, tmp_path / "clip.mp4")
    assert list(subtitles.cues) == [Cue(1.0, 2.5, "你好"), Cue(3.0, 4.0, "黄色的字")]
    assert subtitles.language == "zh-Hans"


@pytest.fixture(scope="module")
def plain_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "plain.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x48:d=8", "-c:v", "libx264", path)
    return path


def _ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True, timeout=60)


@needs_ffmpeg
@pytest.mark.parametrize(
    "suffix, codec, language",
    [(".mp4", "mov_text", "chi"), (".mkv", "srt", "zho"), (".mkv", "ass", None), (".mkv", "webvtt", None)],
)
def test_streams_inside_containers(tmp_path, plain_video, suffix, codec, language):
    source = tmp_path / "in.srt"
    source.write_text(SRT, encoding="utf-8")
    video = tmp_path / f"muxed{suffix}"
    tag = ["-metadata:s:s:0", f"language={language}"] if language else []
    _ffmpeg("-i", plain_video, "-i", source, "-map", "0", "-map", "1", "-c:v", "copy", "-c:s", codec, *tag, video)
    (subtitles,) = read_streams(video)
    assert list(subtitles.cues) == CUES
    assert subtitles.language == language and subtitles.origin == f"{video}#stream 1"


@needs_ffmpeg
def test_two_streams_and_none(tmp_path, plain_video):
    chinese, english = tmp_path / "zh.srt", tmp_path / "en.srt"
    chinese.write_text(SRT, encoding="utf-8")
    english.write_text("1\n00:00:02,000 --> 00:00:03,000\nHello there\n", encoding="utf-8")
    video = tmp_path / "two.mkv"
    maps = ["-map", "0", "-map", "1", "-map", "2", "-c:v", "copy", "-c:s", "srt"]
    tags = ["-metadata:s:s:0", "language=chi", "-metadata:s:s:1", "language=eng"]
    _ffmpeg("-i", plain_video, "-i", chinese, "-i", english, *maps, *tags, video)
    first, second = read_streams(video)
    assert (first.language, list(first.cues)) == ("chi", CUES)
    assert (second.language, list(second.cues)) == ("eng", [Cue(2.0, 3.0, "Hello there")])
    assert read_streams(plain_video) == []


def test_broken_container_is_a_decode_error(tmp_path):
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4)
    with pytest.raises(DecodeError, match="subtitle streams"):
        read_streams(broken)
