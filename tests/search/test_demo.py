"""`zhclip demo --no-serve`: its example queries find what they describe, with the shipped demo model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zhclip.extras import installed_extras
from zhclip.search.demo import DEMO_MODEL, cjk_font

pytestmark = pytest.mark.skipif(not DEMO_MODEL.is_file(), reason="needs the demo model (src/zhclip/assets)")
RESULT = re.compile(r"^\S+\s+(image|video)\s+(\S+)(.*)$")


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


def test_demo_without_the_ocr_extra_names_it(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("zhclip.extras.installed_extras", lambda: {"ocr": False})
    out, captions = _run_demo(cli, tmp_path)
    assert "pip install 'zhclip[ocr]'" in out and not (tmp_path / "files" / "signs").exists()
    query, results, _ = _example(out, "a photo")
    assert query in captions[Path(results[0][1]).relative_to((tmp_path / "files").absolute()).as_posix()]
