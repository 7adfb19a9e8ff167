"""Several `zhclip index` processes on one PostgreSQL library (issue 33): an indexer killed with -9 while it
holds claims leaves them to the others once its lease lapses; a lost connection loses only the open batch; in
the end every file is stored once, every content once, nothing is missing and no claim is left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import zhclip
from tests.polling import eventually
from zhclip.errors import InputError
from zhclip.search import IndexOptions, IndexSummary, Library, LibraryError, MediaEncoder, Searcher, index_library
from zhclip.search.location import PostgresUrl
from zhclip.search.mounts import parse_mount
from zhclip.search.pg.store import open_connection
from zhclip.search.stores import open_reader
from zhclip.web import create_app

from ..conftest import FAST
from ..media import photo

IMAGES = 30
LEASE_S = 3
# Small batches and one decoding thread: an indexer claims a few files at a time and holds claims all along.
INDEX_ARGS = ("--claim-lease", LEASE_S, "--batch-size", 2, "--workers", 1, "--commit-every", 0, "--no-progress")
MODEL_ARGS = ("--precision", "fp32", "--device", "cpu")


@pytest.fixture
def folder(tmp_path) -> Path:
    """IMAGES different photos, large PNGs (slow enough to decode that a run is caught holding claims), and one
    copy of the first (the same content under two names)."""
    lib = tmp_path / "lib"
    for n in range(IMAGES):
        photo(lib / f"{n:02d}.png", n, size=(800, 600))
    (lib / "copy.png").write_bytes((lib / "00.png").read_bytes())
    return lib


def start_indexer(url: PostgresUrl, lib: Path, model: Path, log: Path) -> subprocess.Popen:
    """`zhclip index LIB --db URL` as a user runs it, its output into `log` (a pipe nobody reads could block)."""
    with log.open("w") as out:
        args = (lib, "--db", url, "--model", model, *INDEX_ARGS, *MODEL_ARGS)
        return subprocess.Popen(
            [sys.executable, "-m", "zhclip", "index", *map(str, args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def finished(proc: subprocess.Popen, log: Path, timeout: float = 120) -> tuple[int, str]:
    return proc.wait(timeout=timeout), log.read_text()


def new_files(output: str) -> int:
    """How many files a run stored as new, from its summary line (`…: new N, updated …`)."""
    summary = next(line for line in output.splitlines() if ": new " in line)
    return int(summary.split(": new ")[1].split(",")[0])


def counts(conn) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # fixed names, not input
        for table in ("files", "contents", "vectors", "work")
    }


def held_by(conn, pid: int) -> int:
    """Files the indexer of process `pid` holds (its holder name is host:pid:random)."""
    return conn.execute("SELECT count(*) FROM work WHERE split_part(holder, ':', 2) = %s", [str(pid)]).fetchone()[0]


def stored_in_full(conn, lib: Path) -> None:
    """Every file once, every content once with its one vector, nothing missing, no claim left."""
    paths = [row[0] for row in conn.execute("SELECT path FROM files ORDER BY path")]
    assert paths == sorted(str(p) for p in lib.iterdir())
    assert counts(conn) == {"files": IMAGES + 1, "contents": IMAGES, "vectors": IMAGES, "work": 0}
    assert conn.execute("SELECT count(DISTINCT content_id) FROM files").fetchone()[0] == IMAGES


def test_three_indexers_one_killed_while_it_holds_claims(pg_url, folder, tiny_checkpoints, tmp_path):
    """The first indexer is killed -9 once it has stored a batch and holds more; the other two start then (so
    what the killed one stored is known exactly), index the rest together, and take over its claims when its
    lease lapses."""
    conn = open_connection(pg_url)
    model = tiny_checkpoints["pt"]
    killed = start_indexer(pg_url, folder, model, tmp_path / "killed.log")
    try:
        # it has stored a batch and holds more: killed in the middle of its work
        eventually(
            lambda: tables_made(conn) and counts(conn)["files"] and held_by(conn, killed.pid),
            "the first indexer stores a batch and holds claims",
        )
    finally:
        killed.kill()
    killed.wait()
    stored_before, orphaned = counts(conn)["files"], held_by(conn, killed.pid)
    assert orphaned > 0 and stored_before < IMAGES + 1

    logs = [tmp_path / "second.log", tmp_path / "third.log"]
    others = [start_indexer(pg_url, folder, model, log) for log in logs]
    results = [finished(proc, log) for proc, log in zip(others, logs, strict=True)]
    for code, output in results:
        assert code == 0, output
    # what the killed indexer stored is not stored again, and its lapsed claims were taken over
    assert sum(new_files(output) for _, output in results) == IMAGES + 1 - stored_before
    stored_in_full(conn, folder)
    conn.close()


def test_a_lost_connection_loses_only_the_open_batch(pg_url, folder, model_path):
    """The indexer (in a thread here) loses its connections mid-run: a LibraryError saying so; what it had
    committed stays, and a rerun (once the unreleased claims lapse) stores only the rest."""
    conn = open_connection(pg_url)
    small_batches = MediaEncoder(zhclip.load(model_path, device="cpu"), batch_size=2)
    options = replace(FAST, workers=1, claim_lease=LEASE_S)
    outcome: list[BaseException | IndexSummary] = []
    cut = threading.Thread(target=lambda: outcome.append(run_catching(pg_url, folder, small_batches, options)))
    cut.start()
    eventually(
        lambda: tables_made(conn) and counts(conn)["files"] and held_by(conn, os.getpid()),
        "the indexer stores a batch and holds claims",
    )
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    cut.join()
    assert isinstance(outcome[0], LibraryError) and "cannot write the library" in str(outcome[0])
    stored_before = counts(conn)["files"]
    assert 0 < stored_before < IMAGES + 1

    rerun = index_library(str(pg_url), [folder], small_batches, options)
    assert rerun.new == IMAGES + 1 - stored_before  # what was committed stays; only the rest is redone
    stored_in_full(conn, folder)
    conn.close()


def run_catching(url: PostgresUrl, folder: Path, encoder: MediaEncoder, options: IndexOptions):
    """index_library's summary, or what it raised."""
    try:
        return index_library(str(url), [folder], encoder, options)
    except Exception as exc:
        return exc


def tables_made(conn) -> bool:
    """Whether the library's tables exist yet (the first indexer makes them)."""
    return bool(conn.execute("SELECT to_regclass('work') IS NOT NULL").fetchone()[0])


def test_a_root_mounted_elsewhere_is_indexed_once(pg_url, encoder, tmp_path):
    """One folder, seen at two local paths by two machines: each file is stored once, by the library's path."""
    nas = tmp_path / "nas" / "footage"
    for n in range(3):
        photo(nas / f"{n}.jpg", n)
    elsewhere = tmp_path / "mnt" / "media"  # the other machine's mount point of the same folder
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(nas, target_is_directory=True)
    first = index_library(str(pg_url), [nas], encoder, FAST)
    assert first.new == 3

    photo(nas / "new.jpg", 7)
    (nas / "0.jpg").unlink()
    mounted = replace(FAST, mounts=(parse_mount(f"footage={elsewhere}"),))
    second = index_library(str(pg_url), [elsewhere], encoder, mounted)
    assert (second.new, second.unchanged, second.removed) == (1, 2, 1)
    conn = open_connection(pg_url)
    paths = [row[0] for row in conn.execute("SELECT path FROM files ORDER BY path")]
    assert paths == [str(nas / name) for name in ("1.jpg", "2.jpg", "new.jpg")]
    assert json.loads(conn.execute("SELECT value FROM meta WHERE key = 'roots'").fetchone()[0]) == [str(nas)]

    unknown = replace(FAST, mounts=(("photos", str(elsewhere)),))
    with pytest.raises(InputError, match=r"no root named 'photos'; its roots: footage \("):
        index_library(str(pg_url), [elsewhere], encoder, unknown)
    conn.close()


def test_two_indexers_at_once_store_each_file_and_content_once(pg_url, model_path, tmp_path):
    """Two indexers (threads here) on an empty library at the same time, over files that share contents: both
    start with nothing known, so each counts as new exactly the files it stored."""
    lib = tmp_path / "lib"
    for n in range(12):
        photo(lib / f"{n:02d}.png", n, size=(800, 600))
        (lib / "copies").mkdir(exist_ok=True)
        (lib / "copies" / f"{n:02d}.png").write_bytes((lib / f"{n:02d}.png").read_bytes())
    options = replace(FAST, workers=1, claim_lease=LEASE_S)
    summaries: list[BaseException | IndexSummary] = []
    indexers = [
        threading.Thread(
            target=lambda encoder: summaries.append(run_catching(pg_url, lib, encoder, options)),
            args=(MediaEncoder(zhclip.load(model_path, device="cpu"), batch_size=2),),
        )
        for _ in range(2)
    ]
    for indexer in indexers:
        indexer.start()
    for indexer in indexers:
        indexer.join()
    assert all(isinstance(summary, IndexSummary) and not summary.failed for summary in summaries), summaries
    assert sum(summary.new for summary in summaries) == 24
    assert [s.new + s.by_others + s.unchanged for s in summaries] == [24, 24]  # each file: done here or by the other
    conn = open_connection(pg_url)
    assert counts(conn) == {"files": 24, "contents": 12, "vectors": 12, "work": 0}
    conn.close()


def test_a_server_opens_rescans_and_trashes_files_where_it_mounts_the_root(pg_url, encoder, tmp_path):
    nas = tmp_path / "nas" / "footage"
    for n in range(2):
        photo(nas / f"{n}.jpg", n)
    index_library(str(pg_url), [nas], encoder, FAST)
    here = tmp_path / "mnt" / "footage"  # this machine sees the folder only here
    here.parent.mkdir()
    nas.rename(here)
    library = Library(open_reader(pg_url), encoder)
    client = TestClient(create_app(Searcher(library)), base_url="http://127.0.0.1:5000")
    conn = open_connection(pg_url)
    first, second = (row[0] for row in conn.execute("SELECT id FROM files ORDER BY path"))
    assert client.get(f"/api/files/{first}/original").status_code == 404  # not at the library's path here

    library.mount([parse_mount(f"footage={here}")])
    served = client.get(f"/api/files/{first}/original")
    assert served.status_code == 200 and served.content == (here / "0.jpg").read_bytes()

    photo(here / "new.jpg", 5)
    rescan(client)
    assert client.get("/api/status").json()["indexing"]["summary"].startswith("new 1, updated 0, unchanged 2,")
    assert library_paths(conn) == [str(nas / name) for name in ("0.jpg", "1.jpg", "new.jpg")]

    trashed = client.post("/api/dupes/trash", json={"keep": first, "trash": [second]})
    assert trashed.status_code == 200, trashed.text
    action = trashed.json()["action"]
    assert action["paths"] == [str(nas / "1.jpg")]  # the library's path; the file moved where it is here
    assert not (here / "1.jpg").exists() and (here / ".zhclip-trash" / action["id"] / "1.jpg").is_file()
    assert library_paths(conn) == [str(nas / name) for name in ("0.jpg", "new.jpg")]
    assert [a["id"] for a in client.get("/api/trash").json()["actions"]] == [action["id"]]

    restored = client.post(f"/api/trash/{action['id']}/restore")
    assert restored.status_code == 200 and restored.json() == {"restored": [str(nas / "1.jpg")]}
    assert (here / "1.jpg").is_file() and not (here / ".zhclip-trash" / action["id"]).exists()
    assert client.get("/api/trash").json()["actions"] == []
    assert library_paths(conn) == [str(nas / name) for name in ("0.jpg", "1.jpg", "new.jpg")]  # read again
    conn.close()


def rescan(client: TestClient) -> None:
    assert client.post("/api/rescan").status_code == 202
    eventually(lambda: not client.get("/api/status").json()["indexing"]["running"], "the rescan ends")


def library_paths(conn) -> list[str]:
    return [row[0] for row in conn.execute("SELECT path FROM files ORDER BY path")]
