import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np

from tests.conftest import run_cli
from zhclip.cli import main
from zhclip.search import Reader, cutoff, query

from .media import bad_files, photo, video

FP32 = ("--precision", "fp32")  # "auto" measures the machine once; tests need not wait for that


def test_index_search_similar_dupes_from_the_command_line(tmp_path, model_path):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for i in range(3):
        photo(lib / f"p{i}.jpg", i)
    (lib / "p0_copy.jpg").write_bytes((lib / "p0.jpg").read_bytes())
    video(lib / "v.mp4", ["red", "blue"])
    bad_files(lib / "bad")
    done = run_cli("index", lib, "--db", db, "--model", model_path, "--no-progress", *FP32)
    assert done.returncode == 0, done.stderr
    assert "new 5, updated 0, unchanged 0, removed 0, failed 6" in done.stdout
    log = db.with_suffix(".log").read_text()
    assert f"skipping {lib / 'bad' / 'notes.jpg'}: cannot decode image: not an image" in log
    assert f"skipping {lib / 'bad' / 'bomb.png'}" in done.stderr

    found = run_cli("search", "红色的汽车", "--db", db, "--json", "--top", "3", *FP32)  # the library's own model
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)
    assert len(results) == 3 and {"path", "score", "kind", "start", "end"} <= set(results[0])

    videos = run_cli("search", "视频", "--db", db, "--type", "video", *FP32)
    assert videos.returncode == 0 and "video" in videos.stdout and "[00:" in videos.stdout

    like = run_cli("similar", lib / "p0.jpg", "--db", db, "--json", *FP32)
    assert json.loads(like.stdout)[0]["path"] == str(lib / "p0_copy.jpg")

    dupes = run_cli("dupes", "--db", db, "--threshold", "0.999", "--json", *FP32)
    group = next(g for g in json.loads(dupes.stdout) if str(lib / "p0.jpg") in g)
    assert str(lib / "p0_copy.jpg") in group


def test_user_mistakes_give_one_clear_line(tmp_path, model_path, capsys):
    lib = tmp_path / "lib"
    photo(lib / "a.jpg", 1)
    for argv, words in [
        (["index", str(lib), "--db", str(tmp_path / "x.db")], "--model"),
        (["search", "猫", "--db", str(tmp_path / "missing.db")], "no such library"),
        (["search", "--db", str(tmp_path / "x.db")], "give a text"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_kill_9_mid_index_then_rerun_gives_a_consistent_library(tmp_path, model_path):
    lib, db, clean_db = tmp_path / "lib", tmp_path / "lib.db", tmp_path / "clean.db"
    for i in range(100):
        photo(lib / f"{i // 25}" / f"p{i:03d}.jpg", i % 90, (320, 240))  # 10 duplicate contents
    video(lib / "v.mp4", ["red", "green", "blue"])
    cmd = [
        sys.executable,
        "-m",
        "zhclip",
        "index",
        str(lib),
        "--db",
        str(db),
        "--model",
        str(model_path),
        "--no-progress",
        "--commit-every",
        "0",
        "--workers",
        "1",
        "--batch-size",
        "4",
        *FP32,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    committed = _wait_for_files(db, proc, at_least=20)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 20 <= committed < 101, "the kill must land mid-run"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    clean = subprocess.run(cmd[:6] + [str(clean_db)] + cmd[7:], capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    resumed, clean = _library(db), _library(clean_db)
    assert resumed.keys() == clean.keys()
    for path, vectors in resumed.items():  # batches differ between the runs: allow float rounding
        np.testing.assert_allclose(vectors, clean[path], atol=2e-3, err_msg=path)
    assert Reader(db).counts() == {"files": 101, "images": 100, "videos": 1, "contents": 91, "vectors": 93}


def _wait_for_files(db, proc, at_least: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            count = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT count(*) FROM files").fetchone()[0]
        except sqlite3.Error:
            count = 0
        if count >= at_least:
            return count
        time.sleep(0.02)
    return -1


def _library(db) -> dict[str, np.ndarray]:
    """path -> vectors, the part of a library that must not depend on how the run went."""
    reader = Reader(db)
    files = reader.files_of(r[0] for r in reader.conn.execute("SELECT id FROM contents"))
    return {f.path: reader.content_vectors(f.content_id)[1] for f in files}


def _threshold(monkeypatch, above_best: float) -> None:
    """An automatic threshold `above_best` over each query's best score (the test library is under
    `MIN_VECTORS`: it gets one all the same)."""
    monkeypatch.setattr(cutoff, "MIN_VECTORS", 1)
    monkeypatch.setattr(query, "automatic_cutoff", lambda background, best: best + above_best)


def test_search_shows_weak_results_after_a_divider_and_min_score_filters(tmp_path, index, monkeypatch, capsys):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for i in range(4):
        photo(lib / f"p{i}.jpg", i)
    (lib / "p0_copy.jpg").write_bytes((lib / "p0.jpg").read_bytes())
    index(db, lib)
    _threshold(monkeypatch, 0.01)  # the right answer is under it: still shown first, marked weak
    assert main(["search", "--image", str(lib / "p1.jpg"), "--db", str(db), *FP32]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("── weaker matches (under ") and lines[1].endswith("p1.jpg") and len(lines) == 6
    assert main(["search", "--image", str(lib / "p1.jpg"), "--db", str(db), "--json", *FP32]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found[0]["path"].endswith("p1.jpg") and all(r["weak"] for r in found)

    _threshold(monkeypatch, -1e-6)  # only the best is above it
    assert main(["similar", str(lib / "p0.jpg"), "--db", str(db), *FP32]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("p0_copy.jpg") and lines[1].startswith("── weaker matches") and len(lines) == 5

    assert main(["similar", str(lib / "p0.jpg"), "--db", str(db), "--json", "--min-score", "-1", *FP32]) == 0
    whole = json.loads(capsys.readouterr().out)
    scores = sorted({r["score"] for r in whole})
    middle = (scores[-2] + scores[-1]) / 2  # between the two best results' scores
    assert main(["similar", str(lib / "p0.jpg"), "--db", str(db), "--min-score", str(middle), *FP32]) == 0
    out = capsys.readouterr().out
    assert "weaker" not in out and len(out.splitlines()) == sum(r["score"] >= middle for r in whole) < len(whole)
