"""Several indexers on one PostgreSQL library: the files to index as a queue of work that each indexer claims
in batches with a lease (`FOR UPDATE SKIP LOCKED`: two claims never wait on or take the same rows), renews while
it works (a heartbeat), and finishes in the transaction that stores the files. A killed indexer's claims lapse
with its lease and go to the next indexer that claims. A file is queued only while the library does not hold it
as it is (same size and time), so a file another indexer stored meanwhile is not queued again.

Use per indexer: `enqueue` what its scan found; then, until `claim` gives nothing and `waiting` is 0: `claim` a
batch, index it (calling `renew` at least every lease/3 seconds), and in the transaction that stores it call
`finish` and store only the paths it returns (the ones still held); `release` what is left on a clean stop.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..scan import ScannedFile

if TYPE_CHECKING:
    import psycopg

LEASE_S = 120.0  # a claim lapses this long after its last renewal


def holder_name() -> str:
    """This indexer's name in the queue: host, process and a random part (two runs never share one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkQueue:
    """One indexer's view of the library's work queue, over its own connection."""

    def __init__(self, conn: psycopg.Connection, holder: str | None = None, lease_s: float = LEASE_S):
        self.conn, self.holder, self.lease_s = conn, holder or holder_name(), lease_s

    def enqueue(self, files: Iterable[ScannedFile]) -> int:
        """Queue the files the library does not hold as they are (new or changed); how many were queued. A file
        already queued keeps its place (and its holder, if its size and time are unchanged)."""
        rows = [(f.path, f.size, f.mtime_ns, f.kind) for f in files]
        if not rows:
            return 0
        paths, sizes, times, kinds = (list(column) for column in zip(*rows, strict=True))
        return self.conn.execute(
            "INSERT INTO work(path, size, mtime_ns, kind) "
            "SELECT s.path, s.size, s.mtime_ns, s.kind FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[]) "
            "AS s(path, size, mtime_ns, kind) WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.path = s.path "
            "AND f.size = s.size AND f.mtime_ns = s.mtime_ns) "
            "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, kind = excluded.kind "
            "WHERE (work.size, work.mtime_ns) <> (excluded.size, excluded.mtime_ns)",
            [paths, sizes, times, kinds],
        ).rowcount

    def claim(self, count: int) -> list[ScannedFile]:
        """Up to `count` waiting files (never claimed, or whose lease lapsed), now held by this indexer."""
        rows = self.conn.execute(
            "UPDATE work SET holder = %s, lease_until = now() + make_interval(secs => %s) WHERE path IN "
            "(SELECT path FROM work WHERE lease_until IS NULL OR lease_until < now() ORDER BY path LIMIT %s "
            "FOR UPDATE SKIP LOCKED) RETURNING path, size, mtime_ns, kind",
            [self.holder, self.lease_s, count],
        ).fetchall()
        return [ScannedFile(*row) for row in sorted(rows)]

    def renew(self) -> int:
        """Extend the lease of everything this indexer holds (the heartbeat); how many files it holds."""
        return self.conn.execute(
            "UPDATE work SET lease_until = now() + make_interval(secs => %s) WHERE holder = %s",
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

    def release(self) -> int:
        """Give back what this indexer holds and has not finished (a clean stop); how many files."""
        return self.conn.execute(
            "UPDATE work SET holder = NULL, lease_until = NULL WHERE holder = %s", [self.holder]
        ).rowcount

    def waiting(self) -> int:
        """Files queued and not finished (held or not)."""
        return self.conn.execute("SELECT count(*) FROM work").fetchone()[0]
