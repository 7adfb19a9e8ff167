"""The long checks behind `make reliability`; each returns one row of the summary table."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tests.search.media import photo

from .corpus import INDEXED, make_corpus, outcomes
from .environment import logged
from .faults import kill_loop, run_to_end, zhclip_process
from .fuzz import fuzz
from .library import compare, fill_synthetic, integrity, mixed_library, mutate, snapshot
from .load import LoadResult, hammer, keep_rescanning, serving
from .report import Row

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    work: Path  # scratch folder
    model: Path  # a tiny random Chinese-CLIP checkpoint
    items: int = 100_000  # synthetic library for the load check
    clients: int = 64
    seconds: float = 60.0
    kills: int = 20  # SIGKILLs of `zhclip index`
    train_kills: int = 6
    fuzz_examples: int = 100  # per operation and generation mode
    photos: int = 240
    videos: int = 6
    churn_rounds: int = 4


def _encoder(settings: Settings):
    import zhclip
    from zhclip.search import MediaEncoder

    return MediaEncoder(zhclip.load(settings.model, device="cpu", precision="fp32"))


def _index_args(lib: Path, db: Path, settings: Settings, *extra: str) -> tuple:
    return ("index", lib, "--db", db, "--model", settings.model, "--precision", "fp32", "--no-progress", *extra)


def _timed_run(args: tuple, timeout: float = 900) -> float:
    started = time.monotonic()
    if (code := run_to_end(lambda: zhclip_process(*args), timeout)) != 0:
        raise RuntimeError(f"zhclip {args[0]} exited with {code}")
    return time.monotonic() - started


def _lost_bytes(reference: dict, other: dict) -> int:
    """Bytes of the files a library should hold (as `reference` does) but lacks or holds wrongly."""
    difference = compare(reference, other)
    return sum(os.path.getsize(p) for p in difference.missing + difference.changed if os.path.exists(p))


# ------------------------------------------------------------------ fuzzing


def check_fuzz(settings: Settings) -> Row:
    from zhclip.search import IndexOptions, Library, Reader, Searcher, index_library
    from zhclip.web import create_app

    lib, db = mixed_library(settings.work / "fuzz" / "lib", photos=20, videos=2), settings.work / "fuzz" / "lib.db"
    encoder = _encoder(settings)
    index_library(db, [lib], encoder, IndexOptions(commit_every=0))
    reader = Reader(db)
    ids = [row[0] for row in reader.conn.execute("SELECT id FROM files")]
    with logged("zhclip.web"):  # the server logs each 500 with its traceback; the row reports them
        result = fuzz(create_app(Searcher(Library(reader, encoder))), ids, settings.fuzz_examples)
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(result.statuses.items()))
    note = f"schemathesis, {settings.fuzz_examples} valid + {settings.fuzz_examples} invalid cases per operation; "
    note += f"statuses {statuses}" + (f"; first problem: {result.problems[0]}" if result.problems else "")
    return Row(
        "API fuzzing (OpenAPI spec)", sent=result.requests, failed=result.failed, ok=result.failed == 0, note=note
    )


# ------------------------------------------------------------------ load


def check_load(settings: Settings) -> Row:
    folder = settings.work / "load"
    lib, db = folder / "lib", folder / "lib.db"
    photo(lib / "first.jpg", 1)
    fill_synthetic(db, _encoder(settings).identity, settings.items, [lib])
    result = LoadResult()
    with serving(db, log=folder / "serve.log") as host:
        stop = threading.Event()
        deadline = time.monotonic() + settings.seconds + 120
        driver = threading.Thread(target=keep_rescanning, args=(host, lib, stop, deadline, result))
        driver.start()
        try:
            hammer(host, settings.clients, settings.seconds, 10**6, settings.items, result=result)
        finally:
            stop.set()
            driver.join(180)
    checked = integrity(db)
    note = (
        f"{settings.items:,} items (synthetic vectors through Store), {settings.clients} keep-alive clients for "
        f"{settings.seconds:.0f} s: {result.rate:.0f} requests/s; {result.rescans} rescans during the load; "
        f"integrity_check: {checked}" + (f"; first failure: {result.failures[0]}" if result.failures else "")
    )
    ok = result.failed == 0 and result.rescans >= 1 and checked == "ok"
    return Row(
        "load: queries during rescans",
        sent=result.sent,
        failed=result.failed,
        p50_ms=result.percentile(50),
        p99_ms=result.percentile(99),
        ok=ok,
        note=note,
    )


# ------------------------------------------------------------------ SIGKILL loops


def check_index_kills(settings: Settings) -> Row:
    folder = settings.work / "kill-index"
    lib, db = mixed_library(folder / "lib", settings.photos, settings.videos), folder / "lib.db"
    rng = np.random.default_rng(20)
    full = _timed_run(_index_args(lib, folder / "warmup.db", settings))
    args = _index_args(lib, db, settings, "--commit-every", "0.5")
    stats = kill_loop(
        lambda: zhclip_process(*args, log=folder / "runs.log"),
        settings.kills,
        (0.3 * full, 1.1 * full),
        time.monotonic() + 40 * full + 600,
        rng,
        check=lambda: integrity(db),
        between=lambda n: mutate(lib, rng, n),
    )
    final = run_to_end(lambda: zhclip_process(*args), 900)
    _timed_run(_index_args(lib, folder / "clean.db", settings))
    reference, killed = snapshot(folder / "clean.db"), snapshot(db)
    difference = compare(reference, killed)
    ok = stats.kills >= settings.kills and stats.survived == stats.kills and not stats.failures and final == 0
    note = (
        f"`zhclip index` on {len(reference)} files ({settings.videos} videos), killed at random moments in "
        f"{0.3 * full:.1f}-{1.1 * full:.1f} s, {stats.completed} runs finished in between (then the library "
        f"changed: new, deleted, renamed, rewritten files); vs a clean run: {difference.describe()}"
        + (f"; {stats.failures[:2]}" if stats.failures else "")
    )
    return Row(
        "SIGKILL `zhclip index`",
        faults=stats.kills,
        survived=stats.survived,
        bytes_lost=_lost_bytes(reference, killed),
        ok=ok and difference.same,
        note=note,
    )


def check_train_kills(settings: Settings) -> Row:
    from tests.train.conftest import write_toy_dataset

    from zhclip.train.checkpoint import load_training

    folder = settings.work / "kill-train"
    data = write_toy_dataset(folder / "toy", {"train": 64, "valid": 16})
    out, steps = folder / "run", 40
    common = (
        "--arch",
        "tiny",
        "--data",
        data,
        "--batch-size",
        "8",
        "--max-steps",
        steps,
        "--save-every",
        "2",
        "--lr",
        "1e-3",
        "--warmup",
        "1",
        "--log-every",
        "1",
        "--val-every",
        "0",
        "--no-progress",
        "--no-hf",
    )
    full = _timed_run(("train", *common, "--out", folder / "warmup"))
    latest = out / "checkpoints" / "epoch_latest.pt"

    def start():
        return zhclip_process(
            "train", *common, "--out", out, *(["--resume"] if latest.is_file() else []), log=folder / "runs.log"
        )

    def readable() -> str:
        try:
            return "ok" if not latest.exists() or load_training(latest).step >= 0 else "bad"
        except Exception as exc:  # reported in the table
            return f"unreadable checkpoint: {exc}"

    stats = kill_loop(
        start,
        settings.train_kills,
        (0.3 * full, 1.0 * full),
        time.monotonic() + 30 * full + 300,
        np.random.default_rng(21),
        check=readable,
        between=lambda n: shutil.rmtree(out),  # a run that finished starts over: every kill hits a live run
    )
    final = run_to_end(start, 900)
    logged = [json.loads(line)["step"] for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    complete = final == 0 and load_training(latest).step == steps and logged == list(range(1, steps + 1))
    note = (
        f"`zhclip train` ({steps} steps, 8 per epoch, checkpoint every 2) killed at random moments in "
        f"{0.3 * full:.1f}-{full:.1f} s, resumed each time; final checkpoint at step "
        f"{load_training(latest).step}, every step logged once: {logged == list(range(1, steps + 1))}"
    )
    ok = stats.kills >= settings.train_kills and stats.survived == stats.kills and complete and not stats.failures
    return Row(
        "SIGKILL `zhclip train` + resume",
        faults=stats.kills,
        survived=stats.survived,
        bytes_lost=0 if complete else latest.stat().st_size,
        ok=ok,
        note=note,
    )


# ------------------------------------------------------------------ hostile files


SKIP_LINE = re.compile(r" WARNING skipping (.*?): (.*)$")


def _logged_skips(log: Path) -> list[tuple[str, str]]:
    lines = log.read_text(encoding="utf-8", errors="backslashreplace").splitlines()
    return [m.groups() for line in lines if (m := SKIP_LINE.search(line))]


def check_hostile_files(settings: Settings) -> Row:
    folder = settings.work / "hostile"
    lib, db = mixed_library(folder / "lib", photos=12, videos=1), folder / "lib.db"
    _timed_run(_index_args(lib, db, settings))
    good = snapshot(db)
    made = make_corpus(lib / "odd")
    db.with_suffix(".log").unlink()
    crashed = run_to_end(lambda: zhclip_process(*_index_args(lib, db, settings), log=folder / "run.log"), 900)
    skips = _logged_skips(db.with_suffix(".log"))
    results = outcomes(made, set(snapshot(db)), skips)
    wrong = [f"{o.case.name!r}: expected {o.case.expect!r}, got {o.got[:80]!r}" for o in results if not o.ok]
    rejected = [o for o in results if o.ok and o.case.expect != INDEXED]
    lost = _lost_bytes(good, snapshot(db))
    reasons = Counter(" ".join(o.got.split()[:4]) for o in rejected)
    checked = integrity(db)
    note = (
        f"`zhclip index` over {len(made)} hostile/odd files beside a good library: "
        f"{sum(o.ok and o.case.expect == INDEXED for o in results)} indexed as they should be, "
        f"{len(rejected)} skipped with the expected logged reason; exit {crashed}; integrity_check: {checked}"
        + (f"; wrong: {wrong[:4]}" if wrong else "")
    )
    return Row(
        "hostile and odd files",
        files_tried=len(made),
        files_rejected=len(rejected),
        bytes_lost=lost,
        ok=not wrong and crashed == 0 and lost == 0 and checked == "ok",
        note=note,
        reasons=reasons,
    )


def check_churn(settings: Settings) -> Row:
    """Files rewritten, deleted, recreated and grown while `zhclip index` reads them; then one quiet run."""
    folder = settings.work / "churn"
    lib, db = mixed_library(folder / "lib", settings.photos, 2), folder / "lib.db"
    args = _index_args(lib, db, settings, "--commit-every", "0.5")
    rng = np.random.default_rng(22)
    changes = 0
    for _ in range(settings.churn_rounds):
        started = time.time()
        process = zhclip_process(*args, log=folder / "runs.log")
        while process.poll() is None and changes < 10**5:
            if _committed_since(db, started):  # past start-up: the indexer is reading files now
                changes += _disturb(lib, rng)
            time.sleep(0.02)
    final = run_to_end(lambda: zhclip_process(*args), 900)
    _timed_run(_index_args(lib, folder / "clean.db", settings))
    reference, churned = snapshot(folder / "clean.db"), snapshot(db)
    difference = compare(reference, churned)
    noticed = (folder / "lib.log").read_text(errors="replace").count("changed while being indexed")
    note = (
        f"{settings.churn_rounds} runs of `zhclip index` while files changed under them ({noticed} caught "
        f"'changed while being indexed'); then a quiet run vs a clean run: {difference.describe()}"
    )
    return Row(
        "files changing or vanishing mid-index",
        faults=changes,
        survived=changes if difference.same else 0,
        bytes_lost=_lost_bytes(reference, churned),
        ok=difference.same and final == 0,
        note=note,
    )


def _committed_since(db: Path, moment: float) -> bool:
    wal = db.with_name(db.name + "-wal")
    return wal.exists() and wal.stat().st_mtime > moment


def _disturb(lib: Path, rng: np.random.Generator) -> int:
    photos = sorted(lib.glob("photos/*/*.jpg"))
    if not photos:
        return 0
    target = photos[int(rng.integers(len(photos)))]
    action = int(rng.integers(4))
    if action == 0:
        photo(target, int(rng.integers(10**6)))  # rewritten with other content
    elif action == 1:
        target.unlink()
    elif action == 2:
        target.rename(target.with_name(f"moved_{rng.integers(10**6)}_{target.name}"))
    else:
        with open(target, "ab") as fh:
            fh.write(b"\xff" * 64)  # grown: still decodes, different content
    return 1


# ------------------------------------------------------------------ the fast tests, as part of the report


def check_pytest(name: str, *paths: str, work: Path) -> Row:
    """Run pytest on `paths`; the row counts checks passed, failed, and known bugs still open (xfail)."""
    report = work / f"{re.sub(r'[^a-z]+', '-', name.lower())}.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *paths]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    cases = list(suite.iter("testcase"))
    xfailed = sum(1 for c in cases for s in c.iter("skipped") if "xfail" in (s.get("type", "") + s.get("message", "")))
    skipped = sum(1 for c in cases if c.find("skipped") is not None) - xfailed
    failed = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
    passed = len(cases) - failed - skipped - xfailed
    note = f"pytest {' '.join(paths)}: {passed} passed, {failed} failed, {xfailed} known bugs open, {skipped} skipped"
    if failed:
        note += "; " + done.stdout.strip().splitlines()[-1]
    return Row(name, faults=len(cases) - skipped, survived=passed, ok=failed == 0 and xfailed == 0, note=note)
