"""`zhclip demo --no-serve`: its example queries find what they describe, with the shipped demo model: a photo,
a video moment, a moment by a phrase of its subtitles (at the cue's time, and first in the default ranking
too) and a sign by its words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zhclip.extras import installed_extras
from zhclip.media.subtitles import read_sidecar, sidecars
from zhclip.search.demo import DEMO_MODEL, cjk_font, make_demo_library

pytestmark = pytest.mark.skipif(not DEMO_MODEL.is_file(), reason="needs the demo model (src/zhclip/assets)")
RESULT = re.compile(r"^\S+\s+(image|video)\s+(\S+)(.*)$")
SPAN = re.compile(r"\[(\d\d):(\d\d\.\d)-(\d\d):(\d\d\.\d)\]")


def _example(out: str, what: str) -> tuple[str, list[tuple[str, str, str]], str]:
    """(query, result lines as (kind, path, rest), the 'ranked first' line) of the example titled `what`."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"   {what}: "))
    query = lines[start].split(": ", 1)[1].strip("'")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("   -> ranked first: "))
    results = [m.groups() for line in lines[start + 1 : end] if (m := RESULT.match(line))]
    return query, results, lines[end]


def _run_demo(cli, folder: Path):
    result = cli("demo", "--no-serve", "--dir", folder, "--photos", "8", "--videos", "1")
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads((folder / "files" / "captions.json").read_text(encoding="utf-8"))


def _seconds(span: str) -> tuple[float, float]:
    m1, s1, m2, s2 = SPAN.search(span).groups()
    return 60 * int(m1) + float(s1), 60 * int(m2) + float(s2)


def _check_subtitle_moment(out: str, files: Path) -> None:
    """The subtitles example: its phrase is in one cue of the video's subtitle file, the video comes first with
    the cue's span (within 0.5 s: the span snaps to the cuts 0.3 s around the cue), the default ranking too."""
    query, results, first = _example(out, "a video moment by its subtitles (--match subtitles)")
    kind, path, moment = results[0]
    assert kind == "video" and "  subtitles " in moment and query in moment, "found by the cue holding it"
    (sidecar,) = sidecars(path)
    (cue,) = [cue for cue in read_sidecar(sidecar, path).cues if query in cue.text]
    start, end = _seconds(moment)
    assert abs(start - cue.start) <= 0.5 and abs(end - cue.end) <= 0.5, (start, end, cue)
    name = Path(path).relative_to(files.absolute()).as_posix()
    assert first.startswith(f"   -> ranked first: {name} at ") and sidecar.name in first
    assert "--match hybrid) ranks it first too" in out, "the default ranking finds it too"


@pytest.mark.skipif(not installed_extras()["ocr"] or cjk_font() is None, reason="needs zhclip[ocr] and a CJK font")
def test_demo_finds_a_photo_a_video_moment_and_a_sign_by_its_words(cli, tmp_path):
    out, captions = _run_demo(cli, tmp_path)
    files = tmp_path / "files"

    query, results, first = _example(out, "a photo")
    name = Path(results[0][1]).relative_to(files.absolute()).as_posix()
    assert name.startswith("photos/") and query in captions[name], "the query is a caption of the first result"
    assert first.startswith(f"   -> ranked first: {name},")

    query, results, first = _example(out, "a video moment")
    kind, path, moment = results[0]
    name = Path(path).relative_to(files.absolute()).as_posix()
    assert kind == "video" and query in captions[name]
    start, end = re.search(r"\[(\d\d:\d\d\.\d)-(\d\d:\d\d\.\d)\]", moment).groups()
    assert start < end and f"{name} at {start}-{end}" in first

    query, results, first = _example(out, "words in a picture")
    path, shown = results[0][1], results[0][2]
    assert Path(path).parent == (files / "signs").absolute() and f"「{query}" in shown, "found by its OCR text"
    assert "OCR read" in out

    _check_subtitle_moment(out, files)


def test_demo_without_the_ocr_extra_names_it(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("zhclip.extras.installed_extras", lambda: {"ocr": False})
    out, captions = _run_demo(cli, tmp_path)
    assert "pip install 'zhclip[ocr]'" in out and not (tmp_path / "files" / "signs").exists()
    query, results, _ = _example(out, "a photo")
    assert query in captions[Path(results[0][1]).relative_to((tmp_path / "files").absolute()).as_posix()]
    _check_subtitle_moment(out, tmp_path / "files")


def test_demo_videos_have_subtitle_files_as_people_have_them_and_an_older_folder_gets_them(tmp_path):
    files = tmp_path / "files"
    library = make_demo_library(files, photos=1, videos=2, seconds=2.0, signs=False)
    cues = {name: [(cue.start, cue.end) for cue in subtitles.cues] for name, subtitles in library.subtitles.items()}
    assert cues == {name: [(0.3, 0.7), (1.3, 1.7)] for name in ("videos/clip_00.mp4", "videos/clip_01.mp4")}
    ass = (files / "videos" / "clip_01.chs.ass").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        ass.decode("utf-8")
    assert library.subtitles["videos/clip_01.mp4"].cues[0].text in ass.decode("gb18030")

    for sidecar in ("clip_00.srt", "clip_01.chs.ass"):  # as rendered before the demo videos had subtitles
        (files / "videos" / sidecar).unlink()
    again = make_demo_library(files, photos=1, videos=2, seconds=2.0, signs=False)
    assert again.subtitles == library.subtitles and again.captions == library.captions
