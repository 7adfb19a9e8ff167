"""Writing and reading a PostgreSQL library: `PgStore` and `PgReader` answer what `Store` and `Reader`
(search/store.py) answer, over the tables of schema.py, with SQL parameterised everywhere.

Vectors: `halfvec(dim)`. Below EXACT_LIMIT vectors a query is an exact scan; from there `optimize` builds an
IVFFlat index (inner product), and `nearest` scans its IVFFLAT_PROBES lists nearest the query, with pgvector's
iterative scan so a filter that drops most of what they hold still gets k results. Dates by month use the
session's time zone, set to this machine's (connection.py), as SQLite's 'localtime' does.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from ...media import MediaInfo
from ..errors import LibraryError, NotFoundError
from ..location import PostgresUrl
from ..meta import GENERATION, LibraryMeta
from ..scan import ScannedFile
from ..store import DATE, FILE_COLUMNS, SQLITE_INTEGERS, VIDEO_FILES, FileRecord, FileState, Filters
from ..text.lines import LineHit, TextLine, text_counts
from . import lines as text_lines
from .connection import connect, create_extensions, driver
from .schema import SCHEMA_VERSION, SQLITE_SCHEMA_MIRRORED, migrate, schema_version
from .sql import FILES, filter_sql

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

EXACT_LIMIT = 100_000  # vectors; at or above it `optimize` builds the IVFFlat index
# Lists a query scans: at 1M vectors (1000 lists) 320 gave recall@20 >= 0.97 even for directions unrelated to every
# row (near ones needed 10), which HNSW did not reach (benchmarks/pg_vectors.py and pg_serve.py, docs/team-library.md).
IVFFLAT_PROBES = 320
REBUILD_GROWTH = 4  # an index whose lists suit a quarter of the vectors now held, or fewer, is built again
NO_FILTERS = Filters()
LINE_LOCKS = 0x7A69  # pg_advisory_xact_lock(class, key)'s class for a content's lines of one source being replaced


def file_record(row: tuple) -> FileRecord:
    *columns, shots = row
    return FileRecord(*columns, None if shots is None else tuple(json.loads(shots)))


def row_id(value: int, what: str) -> int:
    """`value` as a row id; a number a bigint cannot hold names nothing in the library."""
    if value not in SQLITE_INTEGERS:
        raise NotFoundError(what, value)
    return value


def open_connection(url: PostgresUrl) -> psycopg.Connection:
    """A connection with the halfvec type known (the extension must exist)."""
    conn = connect(url)  # first: without the extra, this names it
    from pgvector.psycopg import register_vector

    create_extensions(conn, url)
    register_vector(conn)
    return conn


class PgStore:
    """The library database for one writer (an indexer); reads go through `PgReader`."""

    def __init__(self, url: PostgresUrl):
        self.path = url  # as `Store.path`: what messages name
        self.conn = open_connection(url)
        migrate(self.conn, url)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """All or nothing. A lost connection or a full disk becomes a LibraryError (the open batch is lost)."""
        psycopg = driver()
        try:
            with self.conn.transaction():
                yield self.conn
        except psycopg.OperationalError as exc:
            raise LibraryError(self.path, f"cannot write the library: {str(exc).strip()}") from None

    # ------------------------------------------------------------ metadata

    def meta(self) -> LibraryMeta:
        return LibraryMeta.from_rows(dict(self.conn.execute("SELECT key, value FROM meta")))

    def set_meta(self, meta: LibraryMeta) -> None:
        self.conn.cursor().executemany(
            "INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(meta.rows().items()),
        )

    def bump_generation(self) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (%s, '1') ON CONFLICT (key) "
            "DO UPDATE SET value = (meta.value::bigint + 1)::text",
            [GENERATION],
        )

    def clear(self) -> None:
        """Drop every file, content and vector (for `--reindex` with another model, maybe of another size)."""
        self.conn.execute("DROP INDEX IF EXISTS vectors_ivfflat")
        self.conn.execute("DROP INDEX IF EXISTS vectors_hnsw")  # an older zhclip's
        self.conn.execute("TRUNCATE files, vectors, text_lines, text_contents, contents")
        self.conn.execute("ALTER TABLE vectors ALTER COLUMN vector TYPE halfvec")

    # ------------------------------------------------------------ indexing

    def file_states(self) -> dict[str, FileState]:
        rows = self.conn.execute("SELECT path, id, size, mtime_ns, content_id FROM files")
        return {path: FileState(*rest) for path, *rest in rows}

    def content_ids(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT hash, id FROM contents").fetchall())

    def content_kinds(self) -> list[tuple[str, int, str]]:
        return self.conn.execute("SELECT hash, id, kind FROM contents").fetchall()

    def add_content(
        self,
        digest: str,
        kind: str,
        info: MediaInfo,
        times: Sequence[float | None],
        vectors: np.ndarray,
        shots: Sequence[float] | None = None,
    ) -> int:
        """Insert a content row and its vectors (call inside a transaction); returns the content id. A content
        another indexer stored meanwhile is kept as it is (its id returned)."""
        from pgvector import HalfVector

        inserted = self.conn.execute(
            "INSERT INTO contents(hash, kind, width, height, duration, taken_at, camera, shots) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (hash) DO NOTHING RETURNING id",
            [
                digest,
                kind,
                info.width,
                info.height,
                info.duration,
                info.taken_at,
                info.camera,
                None if shots is None else json.dumps([round(t, 3) for t in shots]),
            ],
        ).fetchone()
        if inserted is None:
            return self.conn.execute("SELECT id FROM contents WHERE hash = %s", [digest]).fetchone()[0]
        content_id = inserted[0]
        halves = np.ascontiguousarray(vectors, dtype=np.float16)
        if len(halves):  # an audio file has none (its empty pixel rows would give the column a wrong size)
            self.type_vectors(halves.shape[1])
        self.conn.cursor().executemany(
            "INSERT INTO vectors(content_id, t, vector) VALUES (%s, %s, %s)",
            [(content_id, t, HalfVector(v)) for t, v in zip(times, halves, strict=True)],
        )
        return content_id

    def type_vectors(self, dim: int) -> None:
        """Give the vector column the model's dimension (once, while it is untyped: a vector index needs it)."""
        typed = self.conn.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'vectors'::regclass AND attname = 'vector'"
        ).fetchone()[0]
        if typed < 0:
            self.conn.execute(f"ALTER TABLE vectors ALTER COLUMN vector TYPE halfvec({int(dim)})")

    def put_file(self, file: ScannedFile, content_id: int) -> None:
        self.conn.execute(
            "INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "content_id = excluded.content_id, indexed_at = excluded.indexed_at",
            [file.path, file.size, file.mtime_ns, content_id, time.time()],
        )

    def remove_files(self, paths: Iterable[str]) -> int:
        """Delete file rows, then contents no file uses any more (their vectors and text go with them)."""
        removed = self.conn.execute("DELETE FROM files WHERE path = ANY(%s)", [list(paths)]).rowcount
        self.conn.execute("DELETE FROM contents c WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.content_id = c.id)")
        return removed

    def rename_files(self, moves: Iterable[tuple[str, str]]) -> None:
        """Give file rows new paths: (new path, old path) each (call inside a transaction)."""
        self.conn.cursor().executemany("UPDATE files SET path = %s WHERE path = %s", list(moves))

    def video_files(self) -> list[tuple[int, str]]:
        """(content id, path) of every video file, by content then path."""
        return self.conn.execute(VIDEO_FILES).fetchall()

    def save_lines(
        self,
        content_id: int,
        source: str,
        lines: Iterable[TextLine],
        error: str | None = None,
        signature: str | None = None,
    ) -> None:
        """As `Store.save_lines` (call inside a transaction). Two indexers replacing one content's lines of one
        source take turns, the second after the first's commit: under READ COMMITTED the second's delete would
        not see the first's new lines, and both sets would stay."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LINE_LOCKS, f"{content_id}:{source}"])
        text_lines.save_lines(self.conn, content_id, source, lines, error, signature)

    def source_hashes(self, source: str) -> set[str]:
        return text_lines.source_hashes(self.conn, source)

    def source_signatures(self, source: str) -> dict[int, str | None]:
        return text_lines.source_signatures(self.conn, source)

    def optimize(self, exact_limit: int = EXACT_LIMIT) -> bool:
        """After an indexing run: merge the text indexes' pending entries (a GIN index keeps new entries in a
        list every query reads until then: 2-character queries took 17 ms instead of 2 on 20k fresh lines), and
        build the IVFFlat index once the library holds `exact_limit` vectors, or again once it holds
        REBUILD_GROWTH times the vectors the index's lists suit (its centres come from the rows it was built on).
        The old index, or an older zhclip's HNSW index, answers until the new one replaces it. True if built now."""
        for index in ("text_lines_grams", "text_lines_sound"):
            self.conn.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        count = self.conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
        built, lists = self.index_lists(), ivfflat_lists(count)
        if count < exact_limit or (built is not None and built * REBUILD_GROWTH > lists):
            return False
        log.info("building the vector index over %d vectors in %d lists (minutes for millions)", count, lists)
        self.conn.execute(
            f"CREATE INDEX vectors_ivfflat_new ON vectors USING ivfflat (vector halfvec_ip_ops) WITH (lists = {lists})"
        )
        self.conn.execute("DROP INDEX IF EXISTS vectors_ivfflat")
        self.conn.execute("DROP INDEX IF EXISTS vectors_hnsw")
        self.conn.execute("ALTER INDEX vectors_ivfflat_new RENAME TO vectors_ivfflat")
        return True

    def index_lists(self) -> int | None:
        """The lists of the library's IVFFlat index; None without one."""
        row = self.conn.execute("SELECT reloptions FROM pg_class WHERE oid = to_regclass('vectors_ivfflat')").fetchone()
        if row is None:
            return None
        options = dict(option.split("=", 1) for option in row[0] or [])
        return int(options.get("lists", 100))  # pgvector's default


def ivfflat_lists(vectors: int) -> int:
    """pgvector's advice: a list per 1000 rows up to 1M rows, the square root of the rows above."""
    return max(1, vectors // 1000) if vectors <= 1_000_000 else math.isqrt(vectors)


class PgReader:
    """Read-only queries. Thread-safe: each thread gets its own connection."""

    def __init__(self, url: PostgresUrl):
        self.path = url
        self._local = threading.local()
        version = schema_version(self.conn, url)  # connected now: a bad URL fails here
        if 0 < version < SCHEMA_VERSION:
            PgStore(url).close()  # an older zhclip's library: brought up to date once

    @property
    def conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = open_connection(self.path)
        return conn

    @property
    def version(self) -> int:
        """As `Reader.version`, for code that asks what the library holds: the SQLite schema whose tables this
        library's mirror (0: no library yet)."""
        return SQLITE_SCHEMA_MIRRORED if self._has_library() else 0

    def _has_library(self) -> bool:
        return bool(self.conn.execute("SELECT to_regclass('zhclip_schema') IS NOT NULL").fetchone()[0])

    def meta(self) -> LibraryMeta:
        if not self._has_library():
            return LibraryMeta()
        return LibraryMeta.from_rows(dict(self.conn.execute("SELECT key, value FROM meta").fetchall()))

    def generation(self) -> int:
        if not self._has_library():
            return 0
        row = self.conn.execute("SELECT value FROM meta WHERE key = %s", [GENERATION]).fetchone()
        return int(row[0]) if row else 0

    def vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(content ids int64, frame times float32 with NaN for images, vectors float16 (N, D)): one binary COPY
        whose rows all have one size, read as a numpy record array (no Python object per row)."""
        dim = self.conn.execute("SELECT max(vector_dims(vector)) FROM vectors").fetchone()[0]
        if dim is None:
            return np.empty(0, np.int64), np.empty(0, np.float32), np.empty((0, 0), np.float16)
        record = np.dtype(
            [("fields", ">i2"), ("id_size", ">i4"), ("id", ">i8"), ("t_size", ">i4"), ("t", ">f8")]
            + [("vector_size", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("vector", ">f2", (dim,))]
        )
        data = bytearray()
        with self.conn.cursor().copy(
            "COPY (SELECT content_id, coalesce(t, 'NaN'), vector FROM vectors ORDER BY id) TO STDOUT (FORMAT BINARY)"
        ) as copy:
            for block in copy:
                data += block
        header = 19 + int.from_bytes(data[15:19], "big")  # signature, flags, then the header extension's length
        rows = np.frombuffer(data, record, count=(len(data) - header - 2) // record.itemsize, offset=header)
        return rows["id"].astype(np.int64), rows["t"].astype(np.float32), rows["vector"].astype(np.float16)

    def nearest(
        self, query: np.ndarray, k: int, filters: Filters = NO_FILTERS, probes: int = IVFFLAT_PROBES
    ) -> list[tuple[int, float, float]]:
        """(content id, frame time or NaN, inner product) of the `k` vectors nearest `query`, best first, from
        files the filters allow: exact below EXACT_LIMIT vectors, through the IVFFlat index above (scanning the
        `probes` lists nearest the query, and more while the filters leave fewer than k)."""
        from pgvector import HalfVector

        where, params = filter_sql(filters)
        allowed = f"WHERE v.content_id IN (SELECT f.content_id FROM {FILES} WHERE {where})" if filters.active else ""
        probe = HalfVector(np.asarray(query, np.float16))
        with self.conn.transaction():
            self.conn.execute("SELECT set_config('ivfflat.probes', %s, true)", [str(max(1, probes))])
            self.conn.execute("SELECT set_config('ivfflat.iterative_scan', 'relaxed_order', true)")
            rows = self.conn.execute(
                "SELECT content_id, t, score FROM (SELECT v.content_id, coalesce(v.t, 'NaN') AS t, "
                f"-(v.vector <#> %s) AS score FROM vectors v {allowed} ORDER BY v.vector <#> %s LIMIT %s) best "
                "ORDER BY score DESC",
                [probe, *(params if filters.active else []), probe, k],
            ).fetchall()
        return [(content_id, t, score) for content_id, t, score in rows]

    def content_vectors(self, content_id: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.conn.execute(
            "SELECT t, vector FROM vectors WHERE content_id = %s ORDER BY t", [row_id(content_id, "content")]
        ).fetchall()
        if not rows:
            raise NotFoundError("content", content_id)
        times = np.array([np.nan if t is None else t for t, _ in rows], np.float32)
        return times, np.stack([v.to_numpy() for _, v in rows]).astype(np.float32)

    def file(self, file_id: int) -> FileRecord:
        row = self.conn.execute(
            f"SELECT {FILE_COLUMNS} FROM {FILES} WHERE f.id = %s", [row_id(file_id, "file")]
        ).fetchone()
        if row is None:
            raise NotFoundError("file", file_id)
        return file_record(row)

    def file_by_path(self, path: str) -> FileRecord:
        row = self.conn.execute(f"SELECT {FILE_COLUMNS} FROM {FILES} WHERE f.path = %s", [path]).fetchone()
        if row is None:
            raise NotFoundError("file", path)
        return file_record(row)

    def files_of(self, content_ids: Iterable[int], filters: Filters = NO_FILTERS) -> list[FileRecord]:
        ids = sorted({int(c) for c in content_ids})
        where, params = filter_sql(filters)
        rows = self.conn.execute(
            f"SELECT {FILE_COLUMNS} FROM {FILES} WHERE f.content_id = ANY(%s) AND {where} ORDER BY f.path",
            [ids, *params],
        )
        return [file_record(row) for row in rows]

    def browse(
        self, filters: Filters, newest_first: bool | None, offset: int, limit: int, after: tuple | None = None
    ) -> list[FileRecord]:
        """As `Reader.browse`: by date or by path, from `offset` or from just past the sort key `after`."""
        where, params = filter_sql(filters)
        if newest_first is None:
            order, key = "f.path", "f.path > %s"
        else:
            sign = "<" if newest_first else ">"
            direction = "DESC" if newest_first else "ASC"
            order, key = f"{DATE} {direction}, f.id {direction}", f"({DATE}, f.id) {sign} (%s, %s)"
        if after is not None:
            where, params = f"{where} AND {key}", [*params, *after]
        rows = self.conn.execute(
            f"SELECT {FILE_COLUMNS} FROM {FILES} WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        return [file_record(row) for row in rows]

    def count(self, filters: Filters) -> int:
        where, params = filter_sql(filters)
        return self.conn.execute(f"SELECT count(*) FROM {FILES} WHERE {where}", params).fetchone()[0]

    def months(self, filters: Filters) -> list[tuple[str, int]]:
        """(YYYY-MM in local time, file count), newest first."""
        where, params = filter_sql(filters)
        month = f"to_char(to_timestamp({DATE}), 'YYYY-MM')"
        return self.conn.execute(
            f"SELECT {month} AS m, count(*) FROM {FILES} WHERE {where} GROUP BY m ORDER BY m DESC", params
        ).fetchall()

    def allowed_contents(self, filters: Filters) -> np.ndarray:
        where, params = filter_sql(filters)
        rows = self.conn.execute(f"SELECT DISTINCT f.content_id FROM {FILES} WHERE {where}", params).fetchall()
        return np.array([r[0] for r in rows], np.int64)

    def counts(self) -> dict[str, int]:
        kinds = dict(self.conn.execute(f"SELECT c.kind, count(*) FROM {FILES} GROUP BY c.kind").fetchall())
        return {
            "files": sum(kinds.values()),
            "images": kinds.get("image", 0),
            "videos": kinds.get("video", 0),
            "contents": self.conn.execute("SELECT count(*) FROM contents").fetchone()[0],
            "vectors": self.conn.execute("SELECT count(*) FROM vectors").fetchone()[0],
        }

    def frame_times(self, content_id: int) -> list[float]:
        """A video's sampled frame times, in order."""
        rows = self.conn.execute(
            "SELECT t FROM vectors WHERE content_id = %s AND t IS NOT NULL ORDER BY t", [row_id(content_id, "content")]
        )
        return [t for (t,) in rows]

    def has_lines(self, source: str) -> bool:
        return self.conn.execute("SELECT 1 FROM text_lines WHERE source = %s LIMIT 1", [source]).fetchone() is not None

    def find_lines(
        self, source: str, text: str, filters: Filters, limit: int = 1000, same_sound: bool = False
    ) -> list[LineHit]:
        """As `Reader.find_lines`: the same lines, in the same order (text.lines.ranked_hits)."""
        return text_lines.find_lines(self.conn, source, text, filters, limit, same_sound)

    def content_lines(self, content_id: int) -> list[tuple[str, TextLine]]:
        return text_lines.content_lines(self.conn, content_id)

    def text_counts(self) -> dict[str, dict[str, int]]:
        return text_counts(self.conn)  # the same SQL as SQLite's
