"""`zhclip index --watch`: the first run, then every settled burst of changes, until Ctrl-C."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys

from tests.polling import eventually
from zhclip.search import LibraryError, Reader

from .media import photo


def test_index_watch_indexes_new_files_until_ctrl_c(tmp_path, model_path):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "a.jpg", 1)
    command = [sys.executable, "-m", "zhclip", "index", str(lib), "--db", str(db), "--model", str(model_path)]
    proc = subprocess.Popen(
        [*command, "--precision", "fp32", "--no-progress", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    try:
        eventually(lambda: _files(db) >= 1, "the first run indexes a.jpg", timeout=120)
        # no waiting for the watch to start: its first look through the folders catches what changed before
        photo(lib / "later.jpg", 2)
        eventually(lambda: _files(db) == 2, "the new file is indexed while watching")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "watching" in out and "stopped watching" in out and "new 1, updated 0" in out


def _ctrl_c_as_in_a_terminal() -> None:
    """A command started in the background of a shell without job control (as a CI script may start the suite)
    inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: give the child what a person
    at a terminal has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _files(db) -> int:
    """Files in the library so far (0 while the indexer is still creating it)."""
    try:
        return Reader(db).counts()["files"]
    except (LibraryError, sqlite3.OperationalError):
        return 0
