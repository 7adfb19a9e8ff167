import os

from zhclip.search.scan import scan

from .media import photo


def test_scan_finds_media_and_skips_hidden_excluded_and_other_files(tmp_path):
    photo(tmp_path / "a.jpg", 1)
    photo(tmp_path / "Sub" / "B.JPEG", 2)
    (tmp_path / "clip.MP4").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("no")
    photo(tmp_path / ".hidden.jpg", 3)
    photo(tmp_path / ".git" / "c.jpg", 4)
    photo(tmp_path / "thumbnails" / "d.jpg", 5)
    photo(tmp_path / "__MACOSX" / "e.jpg", 6)
    photo(tmp_path / "private" / "f.jpg", 7)
    (tmp_path / "link.jpg").symlink_to(tmp_path / "a.jpg")
    result = scan([tmp_path], excludes=("*thumb*", "__MACOSX", "private"))
    found = {f.path.removeprefix(str(tmp_path) + "/"): f.kind for f in result.files}
    assert found == {"a.jpg": "image", "Sub/B.JPEG": "image", "clip.MP4": "video"}
    assert all(f.size > 0 and f.mtime_ns > 0 for f in result.files)


def test_scan_reports_missing_roots(tmp_path):
    result = scan([tmp_path / "nope"])
    assert result.skipped == [(str(tmp_path / "nope"), "no such file or directory")]


def test_scan_skips_names_that_are_not_utf8(tmp_path):
    photo(tmp_path / "中文 名字.jpg", 1)
    os.rename(photo(tmp_path / "x.jpg", 2), os.fsencode(tmp_path) + b"/\xff\xfe.jpg")
    result = scan([tmp_path])
    assert [os.path.basename(f.path) for f in result.files] == ["中文 名字.jpg"]
    assert [reason for _, reason in result.skipped] == ["file name is not valid UTF-8; rename it"]
