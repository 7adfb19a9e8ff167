"""The machine misbehaving around the indexer: a drive unplugged, permissions, files changing under it,
read-only folders and a full disk. Each gives a clear reason; none costs the library what it already had."""

from __future__ import annotations

import logging
import os
import shutil

import pytest
from benchmarks.reliability.environment import as_unprivileged, give_away, remount, shared_folder
from benchmarks.reliability.library import compare, integrity, snapshot

import zhclip.search.prefetch as prefetch_module
from tests.search.media import photo
from zhclip.cli import main
from zhclip.search import IndexOptions, Library, LibraryError, Query, Reader, Searcher, index_library

from .conftest import assert_intact, file_count

FAST = IndexOptions(workers=2, commit_every=0.0)
CLI_FAST = ("--no-progress", "--precision", "fp32", "--commit-every", "0")


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers():
    """`zhclip index` run in-process attaches a log file handler; detach it after the test."""
    logger = logging.getLogger("zhclip")
    before = list(logger.handlers)
    yield
    for handler in logger.handlers[len(before) :]:
        logger.removeHandler(handler)
        handler.close()


def _photos(folder, count, seed=0):
    return [photo(folder / f"p{i:03d}.jpg", seed + i) for i in range(count)]


def test_missing_folder_keeps_its_files(tmp_path, encoder):
    drive = tmp_path / "drive"
    _photos(drive / "holiday", 4)
    db = tmp_path / "lib.db"
    index_library(db, [drive], encoder, FAST)
    before = snapshot(db)
    drive.rename(tmp_path / "unplugged")
    summary = index_library(db, [drive], encoder, FAST)
    assert summary.removed == 0 and any("no such file" in r for _, r in summary.failed), summary.line()
    assert_intact(db, before)
    (tmp_path / "unplugged").rename(drive)
    assert index_library(db, [drive], encoder, FAST).unchanged == 4


def test_unreadable_folder_and_file_as_an_unprivileged_user(encoder):
    root = shared_folder("zhclip-perm-")
    try:
        lib, db = root / "lib", root / "db" / "lib.db"
        _photos(lib / "open", 3)
        _photos(lib / "closed", 3, seed=10)
        db.parent.mkdir()
        give_away(db.parent)
        first = as_unprivileged(lambda: index_library(db, [lib], encoder, FAST).new)
        assert first == 6
        before = snapshot(db)
        secret = photo(lib / "open" / "secret.jpg", 99)
        secret.chmod(0)
        (lib / "closed").chmod(0)
        failed = as_unprivileged(lambda: index_library(db, [lib], encoder, FAST).failed)
        reasons = dict(failed)
        assert "Permission denied" in reasons[str(secret)] and "Permission denied" in reasons[str(lib / "closed")]
        assert_intact(db, before)
    finally:
        (root / "lib" / "closed").chmod(0o755)
        shutil.rmtree(root)


def test_files_changing_or_vanishing_while_indexed(tmp_path, encoder, monkeypatch):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    _photos(lib, 3)
    changing, vanishing = photo(lib / "changing.jpg", 50), photo(lib / "vanishing.jpg", 51)
    real_decode = prefetch_module.decode_file

    def decode_then_disturb(file, *args, **kwargs):
        decoded = real_decode(file, *args, **kwargs)
        if file.path == str(changing):
            with open(changing, "ab") as fh:
                fh.write(b"appended while the indexer read it")
        elif file.path == str(vanishing):
            vanishing.unlink()
        return decoded

    monkeypatch.setattr(prefetch_module, "decode_file", decode_then_disturb)
    summary = index_library(db, [lib], encoder, FAST)
    reasons = dict(summary.failed)
    assert "changed while being indexed" in reasons[str(changing)]
    assert "No such file" in reasons[str(vanishing)]
    assert summary.new == 3 and integrity(db) == "ok"
    monkeypatch.undo()
    again = index_library(db, [lib], encoder, FAST)
    assert again.new == 1 and not again.failed, "the changed file is indexed on the next run"
    assert set(snapshot(db)) == {str(p) for p in lib.iterdir()}


def test_read_only_library_folder_is_indexed(small_tmpfs, tmp_path, encoder):
    lib = small_tmpfs("photos", "4m")
    _photos(lib, 4)
    remount(lib, "ro")
    summary = index_library(tmp_path / "lib.db", [lib], encoder, FAST)
    assert summary.new == 4 and not summary.failed


def test_library_on_a_read_only_folder_can_be_searched(small_tmpfs, encoder):
    folder = small_tmpfs("library", "8m")
    _photos(folder / "photos", 3)
    index_library(folder / "lib.db", [folder / "photos"], encoder, FAST)
    remount(folder, "ro")
    searcher = Searcher(Library(Reader(folder / "lib.db"), encoder))
    assert len(searcher.search(Query(text="照片", top=5))) == 3
    assert main(["search", "照片", "--db", str(folder / "lib.db"), "--precision", "fp32", "--json"]) == 0


def test_indexing_into_a_read_only_folder_is_one_clear_error(small_tmpfs, tmp_path, model_path, capsys):
    folder = small_tmpfs("library", "8m")
    _photos(tmp_path / "photos", 2)
    remount(folder, "ro")
    code = main(
        ["index", str(tmp_path / "photos"), "--db", str(folder / "lib.db"), "--model", str(model_path), *CLI_FAST]
    )
    err = capsys.readouterr().err
    assert code == 2 and "read-only" in err.lower() and "Traceback" not in err, err


def test_database_on_a_full_disk(small_tmpfs, tmp_path, model_path, encoder, capsys):
    folder = small_tmpfs("library", "400k")  # room for the schema (its full-text tables) and a few files
    lib = tmp_path / "photos"
    _photos(lib, 150)
    args = ["index", str(lib), "--db", str(folder / "lib.db"), "--model", str(model_path), *CLI_FAST]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "full" in err and "Traceback" not in err, err
    assert integrity(folder / "lib.db") == "ok" and 0 < file_count(folder / "lib.db") < 150
    remount(folder, "size=32m")
    assert main(args) == 0
    index_library(tmp_path / "clean.db", [lib], encoder, FAST)
    difference = compare(snapshot(tmp_path / "clean.db"), snapshot(folder / "lib.db"))
    assert difference.same, difference.describe()


def test_library_error_names_the_library(tmp_path):
    """A file that is not a library is refused with its path (the errors above build on this)."""
    other = tmp_path / "notes.db"
    other.write_text("not SQLite at all\n" * 100)
    with pytest.raises(LibraryError, match="notes.db"):
        Reader(other)
    assert os.path.getsize(other) == 1800
