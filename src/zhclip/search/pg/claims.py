"""Several indexers on one PostgreSQL library: the files to index as a queue of work that each indexer claims
in batches with a lease (`FOR UPDATE SKIP LOCKED`: two claims never wait on or take the same rows), renews while
it works (a heartbeat), and finishes in the transaction that stores the files. A killed indexer's claims lapse
with its lease and go to the next indexer that claims. A file is queued only while the library does not hold it
as it is (same size and time), so a file another indexer stored meanwhile is not queued again.

Use per indexer: `enqueue` what its scan found; then, until `claim` gives nothing and `waiting` is 0: `claim` a
batch, index it (calling `renew` at least every lease/3 seconds), and in the transaction that stores it call
`finish` and store only the paths it returns (the ones still held); `release` what is left on a clean stop.
`ClaimedWork` does all of that for the indexer (search/indexer.py), with the heartbeat on a thread and a
connection of its own, so that a long batch or a stalled writer connection never lets a live claim lapse.
An indexer sees only the queue's files under its own roots (by the library's paths: mounts.py); once it has
nothing left to claim, it waits for the others' claims until their leases run out, to take over a killed one's.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from ..scan import ScannedFile
from .connection import connect

if TYPE_CHECKING:
    import psycopg

    from .store import PgStore

log = logging.getLogger("zhclip.search")

LEASE_S = 120.0  # a claim lapses this long after its last renewal
POLL_S = 1.0  # at most this long between looks at the queue while other indexers hold the rest
CONTENT_LOCKS = 0x7A68  # pg_advisory_xact_lock(class, key)'s class for contents being stored (apart from migrations)


def holder_name() -> str:
    """This indexer's name in the queue: host, process and a random part (two runs never share one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def queue_counts(conn: psycopg.Connection) -> dict[str, int]:
    """The whole queue: files waiting for an indexer (never claimed, released, or whose lease lapsed) and files
    an indexer holds now."""
    waiting, claimed = conn.execute(
        "SELECT count(*) FILTER (WHERE lease_until IS NULL OR lease_until < now()), "
        "count(*) FILTER (WHERE lease_until >= now()) FROM work"
    ).fetchone()
    return {"waiting": waiting, "claimed": claimed}


class WorkQueue:
    """One indexer's view of the library's work queue, over its own connection: the files under `roots` (the
    library's paths of the folders it indexes; all files when empty), as an indexer that cannot see a root
    must not claim its files."""

    def __init__(
        self, conn: psycopg.Connection, holder: str | None = None, lease_s: float = LEASE_S, roots: Sequence[str] = ()
    ):
        self.conn, self.holder, self.lease_s = conn, holder or holder_name(), lease_s
        self.roots = sorted(roots)
        self.prefixes = [root.rstrip("/") + "/" for root in self.roots]

    @property
    def scope(self) -> tuple[str, list]:
        """The SQL condition on `work.path` for this queue's roots, and its parameters."""
        if not self.roots:
            return "true", []
        return "(path = ANY(%s) OR EXISTS (SELECT 1 FROM unnest(%s::text[]) r WHERE starts_with(path, r)))", [
            self.roots,
            self.prefixes,
        ]

    def enqueue(self, files: Iterable[ScannedFile], reread: Collection[str] = ()) -> int:
        """Queue the files the library does not hold as they are (new or changed), and those of `reread` (paths
        held as they are whose content a text reader has not read yet); how many were queued. A file already
        queued keeps its place (and its holder, if its size and time are unchanged)."""
        rows = [(f.path, f.size, f.mtime_ns, f.kind) for f in files]
        if not rows:
            return 0
        paths, sizes, times, kinds = (list(column) for column in zip(*rows, strict=True))
        return self.conn.execute(
            "INSERT INTO work(path, size, mtime_ns, kind) "
            "SELECT s.path, s.size, s.mtime_ns, s.kind FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[]) "
            "AS s(path, size, mtime_ns, kind) WHERE s.path = ANY(%s) OR NOT EXISTS (SELECT 1 FROM files f "
            "WHERE f.path = s.path AND f.size = s.size AND f.mtime_ns = s.mtime_ns) "
            "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, kind = excluded.kind "
            "WHERE (work.size, work.mtime_ns) <> (excluded.size, excluded.mtime_ns)",
            [paths, sizes, times, kinds, list(reread)],
        ).rowcount

    def claim(self, count: int) -> list[ScannedFile]:
        """Up to `count` waiting files (never claimed, or whose lease lapsed), now held by this indexer."""
        scope, params = self.scope
        rows = self.conn.execute(
            "UPDATE work SET holder = %s, lease_until = now() + make_interval(secs => %s) WHERE path IN "
            f"(SELECT path FROM work WHERE (lease_until IS NULL OR lease_until < now()) AND {scope} ORDER BY path "
            "LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING path, size, mtime_ns, kind",
            [self.holder, self.lease_s, *params, count],
        ).fetchall()
        return [ScannedFile(*row) for row in sorted(rows)]

    def renew(self) -> int:
        """Extend the lease of everything this indexer holds (the heartbeat); how many files it renewed. Rows
        being finished are skipped, not waited for: they leave the queue with that commit, and waiting would let
        the heartbeat and the storing transaction lock the same rows in different orders (a deadlock)."""
        return self.conn.execute(
            "UPDATE work SET lease_until = now() + make_interval(secs => %s) WHERE path IN "
            "(SELECT path FROM work WHERE holder = %s FOR UPDATE SKIP LOCKED)",
            [self.lease_s, self.holder],
        ).rowcount

    def finish(self, paths: Iterable[str]) -> set[str]:
        """Take `paths` off the queue (call in the transaction that stores them); those still held by this
        indexer, which it alone may store: a path whose lease lapsed and was claimed again is left to its new
        holder."""
        rows = self.conn.execute(
            "DELETE FROM work WHERE path = ANY(%s) AND holder = %s RETURNING path", [list(paths), self.holder]
        )
        return {path for (path,) in rows}

    def lock_contents(self, hashes: Collection[str]) -> None:
        """Lock the contents with these hashes until the transaction ends, in one order (sorted), before storing
        them: indexers storing the same new contents at once would otherwise each wait on the other's (a
        deadlock that fails a batch); now one waits for the other's commit, then finds them stored."""
        self.conn.cursor().executemany(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [(CONTENT_LOCKS, digest) for digest in sorted(hashes)]
        )

    def release(self) -> int:
        """Give back what this indexer holds and has not finished (a clean stop); how many files."""
        return self.conn.execute(
            "UPDATE work SET holder = NULL, lease_until = NULL WHERE holder = %s", [self.holder]
        ).rowcount

    def waiting(self) -> int:
        """Files queued and not finished (held or not)."""
        scope, params = self.scope
        return self.conn.execute(f"SELECT count(*) FROM work WHERE {scope}", params).fetchone()[0]

    def lease_left(self) -> float:
        """Seconds until the last claim held now lapses unless renewed (0 when none is held)."""
        scope, params = self.scope
        return self.conn.execute(
            f"SELECT coalesce(extract(epoch FROM max(lease_until) - now()), 0)::float FROM work WHERE {scope}", params
        ).fetchone()[0]

    def unclaimed(self) -> int:
        """Files queued that nobody holds (never claimed, released, or whose lease lapsed): what `claim` may take."""
        scope, params = self.scope
        return self.conn.execute(
            f"SELECT count(*) FROM work WHERE (lease_until IS NULL OR lease_until < now()) AND {scope}", params
        ).fetchone()[0]


class Heartbeat:
    """Renews a holder's lease every lease/3 seconds on a thread and a connection of its own (the indexer's
    connection is busy storing); `stop` ends it and gives back what the holder still holds."""

    def __init__(self, store: PgStore, holder: str, lease_s: float):
        self.queue = WorkQueue(connect(store.path), holder, lease_s)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="zhclip-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        while not self.stopping.wait(self.queue.lease_s / 3):
            try:
                self.queue.renew()
            except Exception as exc:  # the claims lapse and go to other indexers; storing them then stores nothing
                log.warning("cannot renew this indexer's claims (%s); other indexers will take them over", exc)
                return

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        try:
            released = self.queue.release()
        except Exception as exc:
            log.warning("cannot give back this indexer's claims (%s); they lapse in %.0f s", exc, self.queue.lease_s)
        else:
            if released:
                log.info("gave back %d claimed files not indexed yet", released)
        finally:
            self.queue.conn.close()


class ClaimedWork:
    """The files an indexer works on when several share a PostgreSQL library: what its scan found is queued,
    and iterating claims them batch by batch until nothing is left to claim. `finish` (in the transaction that
    stores a batch) says which files it still holds; `wait_for_peers` waits while other indexers hold the rest.
    A context manager: leaving it stops the heartbeat and gives back what was claimed and not finished (a clean
    stop, Ctrl-C or an error)."""

    def __init__(
        self,
        store: PgStore,
        roots: Sequence[str],
        files: list[ScannedFile],
        reread: Collection[str],
        lease_s: float,
        batch: int,
    ):
        self.store, self.batch = store, max(1, batch)
        self.queue = WorkQueue(store.conn, lease_s=lease_s, roots=roots)
        with store.transaction():  # a lost connection becomes the store's one-line LibraryError
            self.queue.enqueue(files, reread)
        self.claimed = 0
        self.left = 0  # files nobody holds, as of the last claim
        self.heartbeat = Heartbeat(store, self.queue.holder, lease_s)

    def __enter__(self) -> ClaimedWork:
        return self

    def __exit__(self, *exc) -> None:
        self.heartbeat.stop()

    @property
    def total(self) -> int:
        """Files of this run: those claimed so far and those still to claim (by this indexer or another)."""
        return self.claimed + self.left

    def __iter__(self) -> Iterator[ScannedFile]:
        while True:
            with self.store.transaction():
                batch = self.queue.claim(self.batch)
                self.left = self.queue.unclaimed()
            if not batch:
                return
            self.claimed += len(batch)
            yield from batch

    def finish(self, paths: Iterable[str]) -> set[str]:
        return self.queue.finish(paths)

    def lock_contents(self, hashes: Collection[str]) -> None:
        self.queue.lock_contents(hashes)

    def wait_for_peers(self, on_wait: Callable[[int], None]) -> bool:
        """After the claims ran out and everything claimed is stored: wait while other indexers hold files, until
        a claim lapses (a killed indexer's: True, there is something to claim again) or all are finished (False),
        calling `on_wait(held)` at each look. The wait ends when the leases held at its start have run out: claims
        still held then were renewed, by indexers alive, which index them (False)."""
        poll = min(POLL_S, self.queue.lease_s / 3)
        deadline = None
        while True:
            with self.store.transaction():
                held, self.left, lease_left = self.queue.waiting(), self.queue.unclaimed(), self.queue.lease_left()
            if not held or self.left:
                return bool(held)
            deadline = deadline or time.monotonic() + lease_left + poll
            if time.monotonic() > deadline:
                log.info("%d files are held by other indexers, alive (renewing their claims): left to them", held)
                return False
            on_wait(held)
            time.sleep(poll)
