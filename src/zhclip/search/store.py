"""Step 4 of indexing: the library's SQLite file. This module owns the schema, its version and migrations.

Layout: `files` (one row per path) -> `contents` (one row per distinct file content, by hash) ->
`vectors` (one row per image, or per sampled video frame with its timestamp), and `text_lines` (the text
found in it: OCR, speech, subtitles; see search/text). Identical files share one content row, so their vectors
and text are computed and stored once; a renamed file keeps its content row.

Concurrency: WAL journal; one writer connection (the indexer) that commits in batches inside
`BEGIN IMMEDIATE` transactions, any number of read connections. A killed writer loses at most its open
transaction, which SQLite rolls back: the file is always consistent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..media import MediaInfo
from .errors import LibraryError, NotFoundError
from .location import library_location
from .meta import GENERATION, LibraryMeta
from .scan import ScannedFile
from .text import lines as text_lines
from .text.lines import LineHit, TextLine
from .text.normalize import forms

SCHEMA_VERSION = 3
TEXT_STORE_VERSION = 3  # the schema that holds the text found in media (`text_lines`)
APPLICATION_ID = 0x7A68636C  # "zhcl": marks the file as a zhclip library
BUSY_TIMEOUT_MS = 60_000

# Schema 3: text found in media (search/text), one store for every source: OCR lines (start: the frame time,
# NULL for images; end NULL), speech segments and subtitle cues (start and end seconds). Three full-text indexes
# kept in step by triggers: trigrams of the key (queries of 3+ characters), its single characters (1-2), and its
# toneless pinyin syllables (same-sound matching). `text_contents`: the contents each source has looked at (with
# text or not, or failed: `error`), and a `signature` a source may use to know when to read again.
# `contents` allows kind 'audio' (audio files of a library with speech on) and records a video's shot starts.
TEXT_STORE = """
CREATE TABLE contents_v3 (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio')),
    width INTEGER, height INTEGER,
    duration REAL,           -- seconds (videos, audio)
    taken_at REAL,           -- EXIF DateTimeOriginal, POSIX seconds
    camera TEXT,
    shots TEXT               -- JSON list of shot start times in seconds (videos); NULL when unknown
);
INSERT INTO contents_v3(id, hash, kind, width, height, duration, taken_at, camera)
    SELECT id, hash, kind, width, height, duration, taken_at, camera FROM contents;
DROP TABLE contents;
ALTER TABLE contents_v3 RENAME TO contents;
CREATE TABLE text_lines (
    id INTEGER PRIMARY KEY,
    content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (source IN ('ocr', 'speech', 'subtitles')),
    start REAL,              -- seconds (videos, audio); NULL for images
    end REAL,                -- seconds (speech, subtitles); NULL for OCR
    text TEXT NOT NULL,
    key TEXT NOT NULL,       -- the text as queries match it (search/text/normalize.py)
    chars TEXT NOT NULL,     -- the key's characters, space-separated: one token each for text_chars
    sound TEXT NOT NULL,     -- the key's toneless pinyin syllables, space-separated
    box TEXT,                -- OCR: JSON [[x, y] * 4], fractions of the upright image's width and height
    confidence REAL NOT NULL
);
CREATE INDEX text_lines_content ON text_lines(content_id, source);
CREATE INDEX text_lines_source ON text_lines(source);
CREATE TABLE text_contents (
    content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    error TEXT,              -- why the source could not read the content; NULL when it did
    signature TEXT,          -- what the source read, to know when to read again (subtitles: the sidecar files)
    PRIMARY KEY (content_id, source)
);
CREATE VIRTUAL TABLE text_fts USING fts5(key, content='text_lines', content_rowid='id', tokenize='trigram');
CREATE VIRTUAL TABLE text_chars USING fts5(
    chars, content='text_lines', content_rowid='id', tokenize='unicode61 remove_diacritics 0'
);
CREATE VIRTUAL TABLE text_sound USING fts5(
    sound, content='text_lines', content_rowid='id', tokenize='unicode61 remove_diacritics 0'
);
CREATE TRIGGER text_lines_insert AFTER INSERT ON text_lines BEGIN
    INSERT INTO text_fts(rowid, key) VALUES (new.id, new.key);
    INSERT INTO text_chars(rowid, chars) VALUES (new.id, new.chars);
    INSERT INTO text_sound(rowid, sound) VALUES (new.id, new.sound);
END;
CREATE TRIGGER text_lines_delete AFTER DELETE ON text_lines BEGIN
    INSERT INTO text_fts(text_fts, rowid, key) VALUES ('delete', old.id, old.key);
    INSERT INTO text_chars(text_chars, rowid, chars) VALUES ('delete', old.id, old.chars);
    INSERT INTO text_sound(text_sound, rowid, sound) VALUES ('delete', old.id, old.sound);
END;
"""
OCR_TABLES = ("ocr_fts", "ocr_chars", "ocr_lines", "ocr_contents")


def _text_store(conn: sqlite3.Connection) -> None:
    """Schema 3: the text store; schema 2's OCR lines move into it (keys and sounds computed, no file read)."""
    for statement in _statements(TEXT_STORE):
        conn.execute(statement)
    rows = conn.execute("SELECT content_id, t, text, box, confidence FROM ocr_lines ORDER BY id")
    conn.executemany(
        "INSERT INTO text_lines(content_id, source, start, text, key, chars, sound, box, confidence) "
        "VALUES (?, 'ocr', ?, ?, ?, ?, ?, ?, ?)",
        ((content_id, t, text, *forms(text), box, confidence) for content_id, t, text, box, confidence in rows),
    )
    conn.execute(
        "INSERT INTO text_contents(content_id, source, error) SELECT content_id, 'ocr', error FROM ocr_contents"
    )
    for table in OCR_TABLES:  # the triggers go with ocr_lines
        conn.execute(f"DROP TABLE {table}")


# MIGRATIONS[v] takes a library from schema v-1 to v: an SQL script, or a function of the connection where SQL
# is not enough. Never edit a released step; append a new one. Steps run with foreign keys off (a step may
# rebuild a table that others refer to), inside one transaction.
MIGRATIONS: dict[int, str | Callable[[sqlite3.Connection], None]] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE contents (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
        width INTEGER, height INTEGER,
        duration REAL,           -- seconds (videos)
        taken_at REAL,           -- EXIF DateTimeOriginal, POSIX seconds
        camera TEXT
    );
    CREATE TABLE vectors (
        id INTEGER PRIMARY KEY,
        content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
        t REAL,                  -- frame timestamp in seconds (videos), NULL for images
        vector BLOB NOT NULL     -- float16, L2-normalised
    );
    CREATE INDEX vectors_content ON vectors(content_id);
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_id INTEGER NOT NULL REFERENCES contents(id),
        indexed_at REAL NOT NULL
    );
    CREATE INDEX files_content ON files(content_id);
    """,
    # OCR (search/ocr): the text lines read in each content (per frame for videos); two full-text indexes over
    # them kept in step by triggers: trigrams (queries of 3+ characters) and single characters (1-2); and which
    # contents OCR has looked at (also those without text, or that OCR could not read).
    2: """
    CREATE TABLE ocr_lines (
        id INTEGER PRIMARY KEY,
        content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
        t REAL,                  -- frame timestamp in seconds (videos), NULL for images
        text TEXT NOT NULL,
        key TEXT NOT NULL,       -- the text as queries match it: no whitespace, lower case
        chars TEXT NOT NULL,     -- the key's characters, space-separated: one token each for ocr_chars
        box TEXT NOT NULL,       -- JSON [[x, y] * 4], fractions of the upright image's width and height
        confidence REAL NOT NULL
    );
    CREATE INDEX ocr_lines_content ON ocr_lines(content_id);
    CREATE TABLE ocr_contents (
        content_id INTEGER PRIMARY KEY REFERENCES contents(id) ON DELETE CASCADE,
        error TEXT               -- why OCR could not read the content; NULL when it did
    );
    CREATE VIRTUAL TABLE ocr_fts USING fts5(key, content='ocr_lines', content_rowid='id', tokenize='trigram');
    CREATE VIRTUAL TABLE ocr_chars USING fts5(
        chars, content='ocr_lines', content_rowid='id', tokenize='unicode61 remove_diacritics 0'
    );
    CREATE TRIGGER ocr_lines_insert AFTER INSERT ON ocr_lines BEGIN
        INSERT INTO ocr_fts(rowid, key) VALUES (new.id, new.key);
        INSERT INTO ocr_chars(rowid, chars) VALUES (new.id, new.chars);
    END;
    CREATE TRIGGER ocr_lines_delete AFTER DELETE ON ocr_lines BEGIN
        INSERT INTO ocr_fts(ocr_fts, rowid, key) VALUES ('delete', old.id, old.key);
        INSERT INTO ocr_chars(ocr_chars, rowid, chars) VALUES ('delete', old.id, old.chars);
    END;
    """,
    3: _text_store,
}

DATE = "coalesce(c.taken_at, f.mtime_ns / 1e9)"  # a file's date: EXIF, else its modification time
VIDEO_FILES = (  # both stores' SQL
    "SELECT f.content_id, f.path FROM files f JOIN contents c ON c.id = f.content_id "
    "WHERE c.kind = 'video' ORDER BY f.content_id, f.path"
)
FILE_COLUMNS = (
    "f.id, f.path, f.size, f.mtime_ns, f.content_id, c.hash, c.kind, c.width, c.height, c.duration, "
    "c.taken_at, c.camera, c.shots"
)
FILE_COLUMNS_V2 = FILE_COLUMNS.replace("c.shots", "NULL")  # a schema 2 library on read-only storage: no shots


@dataclass(frozen=True)
class FileRecord:
    id: int
    path: str
    size: int
    mtime_ns: int
    content_id: int
    hash: str
    kind: str
    width: int | None
    height: int | None
    duration: float | None
    taken_at: float | None
    camera: str | None
    shots: tuple[float, ...] | None = None  # a video's shot start times, seconds (None: not known)

    @property
    def date(self) -> float:
        """EXIF date if known, else the file's modification time (POSIX seconds)."""
        return self.taken_at if self.taken_at is not None else self.mtime_ns / 1e9


def _file_record(row: tuple) -> FileRecord:
    """A row of FILE_COLUMNS as a record (its shots stored as JSON)."""
    *columns, shots = row
    return FileRecord(*columns, None if shots is None else tuple(json.loads(shots)))


@dataclass(frozen=True)
class FileState:
    id: int
    size: int
    mtime_ns: int
    content_id: int


@dataclass(frozen=True)
class Filters:
    """Which library files a query may return."""

    kind: str | None = None  # "image", "video" or None for both
    path_contains: str | None = None
    after: float | None = None  # POSIX seconds, on the EXIF date, else mtime
    before: float | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.kind, self.path_contains, self.after, self.before))

    def sql(self) -> tuple[str, list]:
        clauses, params = ["1"], []
        if self.kind is not None:
            clauses.append("c.kind = ?")
            params.append(self.kind)
        if self.path_contains:
            clauses.append("instr(lower(f.path), lower(?)) > 0")
            params.append(self.path_contains)
        if self.after is not None:
            clauses.append(f"{DATE} >= ?")
            params.append(self.after)
        if self.before is not None:
            clauses.append(f"{DATE} < ?")
            params.append(self.before)
        return " AND ".join(clauses), params


def parse_day(text: str, field: str) -> float:
    """'2024-05-01' -> POSIX seconds at local midnight (the unit of `Filters.after/before`)."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").timestamp()
    except ValueError:
        raise InputError(None, f"expected a date like 2024-05-01, got {text!r}", field=field) from None


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the library's settings. Read-only connections never take the write lock."""
    path = sqlite_path(path)
    if readonly and not path.is_file():
        raise LibraryError(path, "no such library (create it with `zhclip index FOLDER --db PATH`)")
    if not readonly and read_only_storage(path):
        raise LibraryError(path, "its folder is on read-only storage; index into a library in a writable folder")
    uri = f"{path.absolute().as_uri()}?mode={'ro' if readonly else 'rwc'}"
    if readonly and read_only_storage(path):
        uri += "&immutable=1"  # no -shm file can be made there, and nothing can change the library anyway
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _check_library(conn, path)
    except sqlite3.DatabaseError as exc:
        raise LibraryError(path, f"cannot open library: {exc}") from None
    return conn


def sqlite_path(db: str | Path) -> Path:
    """The SQLite file `--db` names; a PostgreSQL URL (search.stores opens those) or an unknown scheme is refused
    before anything is written (taken for a path, it would make a folder `postgresql:`)."""
    location = library_location(db)
    if not isinstance(location, Path):
        raise InputError(
            None, f"{location} is a PostgreSQL library; this opens SQLite library files only", field="--db"
        )
    return location


def read_only_storage(path: Path) -> bool:
    """Whether the folder of `path` is on a read-only filesystem (a read-only mount, disc or snapshot)."""
    try:
        return bool(os.statvfs(path.absolute().parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _check_library(conn: sqlite3.Connection, path: Path) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    if has_tables and app_id != APPLICATION_ID:
        raise LibraryError(path, "not a zhclip library (an SQLite file of another program)")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise LibraryError(
            path, f"library schema {version} is newer than this zhclip understands ({SCHEMA_VERSION}); upgrade zhclip"
        )


class Store:
    """The library database. Create one per thread that writes; reads go through `Reader`."""

    def __init__(self, path: str | Path):
        self.path = sqlite_path(path)
        self.conn = connect(self.path)
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    def optimize(self) -> bool:
        """After an indexing run: the query planner's statistics brought up to date where SQLite sees the need
        (as `PgStore.optimize`, which also builds the vector index; SQLite's vectors are searched in memory)."""
        self.conn.execute("PRAGMA optimize")
        return False

    def _migrate(self) -> None:
        self.conn.execute("PRAGMA foreign_keys = OFF")  # outside the transaction, or it does nothing
        try:
            with self.transaction():
                version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    step = MIGRATIONS[target]
                    if callable(step):
                        step(self.conn)
                    else:
                        for statement in _statements(step):
                            self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {target}")
                self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing. SQLite failures (disk full, read-only folder) become a LibraryError."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise LibraryError(self.path, f"cannot write the library: {exc}") from None

    # ------------------------------------------------------------ metadata

    def meta(self) -> LibraryMeta:
        return LibraryMeta.from_rows(dict(self.conn.execute("SELECT key, value FROM meta")))

    def set_meta(self, meta: LibraryMeta) -> None:
        """Record the model, roots and OCR setting of `meta` (call inside a transaction)."""
        self.conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", meta.rows().items())

    def bump_generation(self) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (GENERATION,),
        )

    def clear(self) -> None:
        """Drop every file, content and vector (for `--reindex` with another model)."""
        for table in ("files", "vectors", "contents"):
            self.conn.execute(f"DELETE FROM {table}")

    # ------------------------------------------------------------ indexing

    def file_states(self) -> dict[str, FileState]:
        rows = self.conn.execute("SELECT path, id, size, mtime_ns, content_id FROM files")
        return {path: FileState(*rest) for path, *rest in rows}

    def content_ids(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT hash, id FROM contents"))

    def content_kinds(self) -> list[tuple[str, int, str]]:
        """(hash, id, kind) of every content."""
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
        """Insert a content row and its vectors (call inside a transaction); returns the content id. `shots`: a
        video's shot start times in seconds (None: unknown)."""
        cur = self.conn.execute(
            "INSERT INTO contents(hash, kind, width, height, duration, taken_at, camera, shots) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (
                digest,
                kind,
                info.width,
                info.height,
                info.duration,
                info.taken_at,
                info.camera,
                None if shots is None else json.dumps([round(t, 3) for t in shots]),
            ),
        )
        content_id = cur.lastrowid
        blobs = np.ascontiguousarray(vectors, dtype=np.float16)
        self.conn.executemany(
            "INSERT INTO vectors(content_id, t, vector) VALUES (?, ?, ?)",
            [(content_id, t, blob.tobytes()) for t, blob in zip(times, blobs, strict=True)],
        )
        return content_id

    def put_file(self, file: ScannedFile, content_id: int) -> None:
        """Insert or update the row of `file.path`, pointing at `content_id` (call inside a transaction)."""
        self.conn.execute(
            "INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
            "content_id=excluded.content_id, indexed_at=excluded.indexed_at",
            (file.path, file.size, file.mtime_ns, content_id, time.time()),
        )

    def remove_files(self, paths: Iterable[str]) -> int:
        """Delete file rows, then contents no file uses any more (their vectors go with them)."""
        removed = 0
        for path in paths:
            removed += self.conn.execute("DELETE FROM files WHERE path = ?", (path,)).rowcount
        self.conn.execute("DELETE FROM contents WHERE id NOT IN (SELECT content_id FROM files)")
        return removed

    def rename_files(self, moves: Iterable[tuple[str, str]]) -> None:
        """Give file rows new paths: (new path, old path) each (call inside a transaction)."""
        self.conn.executemany("UPDATE files SET path = ? WHERE path = ?", list(moves))

    def video_files(self) -> list[tuple[int, str]]:
        """(content id, path) of every video file, by content then path."""
        return self.conn.execute(VIDEO_FILES).fetchall()

    # ------------------------------------------------------------ text found in media (search/text)

    def save_lines(
        self,
        content_id: int,
        source: str,
        lines: Iterable[TextLine],
        error: str | None = None,
        signature: str | None = None,
    ) -> None:
        """Replace `source`'s lines of a content and mark the content looked at by it, with why it could not be
        read (`error`) and what it read (`signature`); call inside a transaction."""
        text_lines.save_lines(self.conn, content_id, source, lines, error, signature)

    def source_hashes(self, source: str) -> set[str]:
        """Hashes of the contents `source` has looked at (text found or not, or reading failed)."""
        return text_lines.source_hashes(self.conn, source)

    def source_signatures(self, source: str) -> dict[int, str | None]:
        """Content id -> the signature `source` saved with it, for the contents it has looked at."""
        return text_lines.source_signatures(self.conn, source)


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of `script` (a trigger body's `;` does not end its CREATE TRIGGER)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


SQLITE_INTEGERS = range(-(2**63), 2**63)


def _row_id(value: int, what: str) -> int:
    """`value` as a row id; a number SQLite cannot even hold names nothing in the library."""
    if value not in SQLITE_INTEGERS:
        raise NotFoundError(what, value)
    return value


class Reader:
    """Read-only queries. Thread-safe: each thread gets its own read connection."""

    def __init__(self, path: str | Path):
        self.path = sqlite_path(path)
        self._local = threading.local()
        version = self.version  # opened now: a bad path fails here and not on the first query
        if 0 < version < SCHEMA_VERSION and not read_only_storage(self.path):
            Store(self.path).close()  # an older zhclip's library: brought up to date once, in one transaction
        self.file_columns = FILE_COLUMNS_V2 if 0 < self.version < 3 else FILE_COLUMNS

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, readonly=True)
        return conn

    @property
    def version(self) -> int:
        """The library's schema version (0: an empty file)."""
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def meta(self) -> LibraryMeta:
        try:
            return LibraryMeta.from_rows(dict(self.conn.execute("SELECT key, value FROM meta")))
        except sqlite3.OperationalError:  # an empty file: no schema yet
            return LibraryMeta()

    def generation(self) -> int:
        """Bumped by every indexing commit (cheap; tells a server when to reload its vector index)."""
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (GENERATION,)).fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0]) if row else 0

    def vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(content ids int64, frame times float32 with NaN for images, vectors float16 (N, D)).
        Read in chunks straight into the arrays, so loading needs little more memory than the result."""
        count, dim = self.conn.execute("SELECT count(*), max(length(vector)) / 2 FROM vectors").fetchone()
        content_ids = np.empty(count, np.int64)
        times = np.empty(count, np.float32)
        matrix = np.empty((count, dim or 0), np.float16)
        cursor = self.conn.execute("SELECT content_id, coalesce(t, 'nan'), vector FROM vectors ORDER BY id")
        start = 0
        while rows := cursor.fetchmany(65_536):
            end = min(start + len(rows), count)  # rows committed since the count are left for the next load
            ids, ts, blobs = zip(*rows[: end - start], strict=True)
            content_ids[start:end], times[start:end] = ids, ts
            matrix[start:end] = np.frombuffer(b"".join(blobs), np.float16).reshape(end - start, dim)
            start = end
            if start == count:
                break
        return content_ids[:start], times[:start], matrix[:start]

    def content_vectors(self, content_id: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.conn.execute(
            "SELECT t, vector FROM vectors WHERE content_id = ? ORDER BY t", (_row_id(content_id, "content"),)
        ).fetchall()
        if not rows:
            raise NotFoundError("content", content_id)
        times = np.array([np.nan if t is None else t for t, _ in rows], np.float32)
        return times, np.stack([np.frombuffer(v, np.float16) for _, v in rows]).astype(np.float32)

    def file(self, file_id: int) -> FileRecord:
        row = self.conn.execute(
            f"SELECT {self.file_columns} FROM files f JOIN contents c ON c.id = f.content_id WHERE f.id = ?",
            (_row_id(file_id, "file"),),
        ).fetchone()
        if row is None:
            raise NotFoundError("file", file_id)
        return _file_record(row)

    def file_by_path(self, path: str) -> FileRecord:
        row = self.conn.execute(
            f"SELECT {self.file_columns} FROM files f JOIN contents c ON c.id = f.content_id WHERE f.path = ?", (path,)
        ).fetchone()
        if row is None:
            raise NotFoundError("file", path)
        return _file_record(row)

    def files_of(self, content_ids: Iterable[int], filters: Filters = Filters()) -> list[FileRecord]:
        ids = sorted({int(c) for c in content_ids})
        where, params = filters.sql()
        out: list[FileRecord] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out += [
                _file_record(row)
                for row in self.conn.execute(
                    f"SELECT {self.file_columns} FROM files f JOIN contents c ON c.id = f.content_id "
                    f"WHERE f.content_id IN ({marks}) AND {where} ORDER BY f.path",
                    [*chunk, *params],
                )
            ]
        return out

    def browse(
        self, filters: Filters, newest_first: bool | None, offset: int, limit: int, after: tuple | None = None
    ) -> list[FileRecord]:
        """Files by date (`newest_first` True or False; ties by id) or by path (None), from `offset` or from
        just past the sort key `after` (date, id) or (path,): a key keeps pages apart while files come and go."""
        where, params = filters.sql()
        if newest_first is None:
            order, key = "f.path", "f.path > ?"
        else:
            sign = "<" if newest_first else ">"
            direction = "DESC" if newest_first else "ASC"
            order, key = f"{DATE} {direction}, f.id {direction}", f"({DATE}, f.id) {sign} (?, ?)"
        if after is not None:
            where, params = f"{where} AND {key}", [*params, *after]
        rows = self.conn.execute(
            f"SELECT {self.file_columns} FROM files f JOIN contents c ON c.id = f.content_id WHERE {where} "
            f"ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_file_record(row) for row in rows]

    def count(self, filters: Filters) -> int:
        where, params = filters.sql()
        return self.conn.execute(
            f"SELECT count(*) FROM files f JOIN contents c ON c.id = f.content_id WHERE {where}", params
        ).fetchone()[0]

    def months(self, filters: Filters) -> list[tuple[str, int]]:
        """(YYYY-MM in local time, file count), newest first: the page's date rail."""
        where, params = filters.sql()
        month = f"strftime('%Y-%m', {DATE}, 'unixepoch', 'localtime')"
        return self.conn.execute(
            f"SELECT {month} AS m, count(*) FROM files f JOIN contents c ON c.id = f.content_id WHERE {where} "
            "GROUP BY m ORDER BY m DESC",
            params,
        ).fetchall()

    def allowed_contents(self, filters: Filters) -> np.ndarray:
        where, params = filters.sql()
        rows = self.conn.execute(
            f"SELECT DISTINCT f.content_id FROM files f JOIN contents c ON c.id = f.content_id WHERE {where}", params
        ).fetchall()
        return np.array([r[0] for r in rows], np.int64)

    def counts(self) -> dict[str, int]:
        kinds = dict(
            self.conn.execute(
                "SELECT c.kind, count(*) FROM files f JOIN contents c ON c.id = f.content_id GROUP BY c.kind"
            )
        )
        return {
            "files": sum(kinds.values()),
            "images": kinds.get("image", 0),
            "videos": kinds.get("video", 0),
            "contents": self.conn.execute("SELECT count(*) FROM contents").fetchone()[0],
            "vectors": self.conn.execute("SELECT count(*) FROM vectors").fetchone()[0],
        }

    def frame_times(self, content_id: int) -> list[float]:
        """A video's sampled frame times (the frames both CLIP and OCR looked at), in order."""
        rows = self.conn.execute(
            "SELECT t FROM vectors WHERE content_id = ? AND t IS NOT NULL ORDER BY t", (content_id,)
        )
        return [t for (t,) in rows]

    # ------------------------------------------------------------ text found in media (search/text)

    def has_lines(self, source: str) -> bool:
        """Whether any content has a line of `source`."""
        return self.conn.execute("SELECT 1 FROM text_lines WHERE source = ? LIMIT 1", (source,)).fetchone() is not None

    def find_lines(
        self, source: str, text: str, filters: Filters, limit: int = 1000, same_sound: bool = False
    ) -> list[LineHit]:
        """`source`'s lines holding `text`, then (`same_sound`) those sounding like it, then those holding part of
        it, best first, from files the filters allow (text.lines.ranked_hits' order)."""
        return text_lines.find_lines(self.conn, source, text, filters, limit, same_sound)

    def content_lines(self, content_id: int) -> list[tuple[str, TextLine]]:
        """(source, line) of every line of a content, by source, then time, then as stored."""
        return text_lines.content_lines(self.conn, content_id)

    def text_counts(self) -> dict[str, dict[str, int]]:
        """Per source: contents looked at, of which unreadable, and with lines; lines; distinct times with lines."""
        return text_lines.text_counts(self.conn)
