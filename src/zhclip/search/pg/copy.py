"""`zhclip library copy SRC DST`: a library copied between SQLite and PostgreSQL (either way, or between two of
one kind), every table row for row with its ids, vectors and text as they are: nothing is read or encoded again.
Each store's own index columns are made on the way in (SQLite's FTS tables by its triggers, PostgreSQL's
`grams`). The source is read in one snapshot (an indexer writing to it meanwhile is not half seen). The target
must hold no library yet; it is written in one transaction, so a failed or interrupted copy leaves it as it was,
and a new SQLite file made for the copy is removed again. A PostgreSQL target is then made ready for queries:
the planner's statistics, merged text indexes, and the vector index for a large library."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import LibraryError
from ..location import PostgresUrl
from ..store import Reader, Store
from .lines import grams
from .store import EXACT_LIMIT, PgReader, PgStore

BATCH = 10_000
# Tables in the order they are written (a row's parent first), and the columns both stores have.
COLUMNS = {
    "meta": ("key", "value"),
    "contents": ("id", "hash", "kind", "width", "height", "duration", "taken_at", "camera", "shots"),
    "vectors": ("id", "content_id", "t", "vector"),
    "files": ("id", "path", "size", "mtime_ns", "content_id", "indexed_at"),
    "text_lines": ("id", "content_id", "source", "start", "end", "text", "key", "sound", "box", "confidence"),
    "text_contents": ("content_id", "source", "error", "signature"),
}
KEY_COLUMN = COLUMNS["text_lines"].index("key")
VECTOR_COLUMN = COLUMNS["vectors"].index("vector")
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")  # files SQLite keeps beside a library file

Progress = Callable[[int, int], None]  # (rows written, rows to write)


def copy_library(
    source: Path | PostgresUrl, target: Path | PostgresUrl, progress: Progress | None = None
) -> dict[str, int]:
    """Copy the library at `source` into `target` (a new SQLite file or a database without a library); the
    number of rows copied per table. `progress` hears after each batch how many rows are written of all."""
    if _same(source, target):
        raise LibraryError(target, "the copy's target is its source; name another library")
    reader = _open_source(source)
    try:
        with _new_target(target) as writer:
            copied = _copy(reader, writer, target, progress or (lambda done, total: None))
            if isinstance(writer, PgStore):
                _ready_for_queries(writer, copied["vectors"])
            return copied
    finally:
        reader.conn.close()


def _same(source: Path | PostgresUrl, target: Path | PostgresUrl) -> bool:
    if isinstance(source, Path) and isinstance(target, Path):
        return source.expanduser().absolute().resolve() == target.expanduser().absolute().resolve()
    return source == target


def _open_source(location: Path | PostgresUrl) -> Reader | PgReader:
    reader = PgReader(location) if isinstance(location, PostgresUrl) else Reader(location)
    if reader.version == 0:
        reader.conn.close()
        raise LibraryError(location, "holds no library; nothing to copy")
    return reader


@contextmanager
def _new_target(location: Path | PostgresUrl) -> Iterator[Store | PgStore]:
    """The target opened for writing; a SQLite file this made is removed again when the copy fails."""
    if isinstance(location, PostgresUrl):
        writer = PgStore(location)
        try:
            yield writer
        finally:
            writer.close()
        return
    made = not location.exists()
    writer = None
    try:
        writer = Store(location)
        yield writer
    except BaseException:
        if writer is not None:
            writer.close()
            writer = None
        if made:
            for path in [location, *(Path(f"{location}{suffix}") for suffix in SQLITE_COMPANIONS)]:
                path.unlink(missing_ok=True)
        raise
    finally:
        if writer is not None:
            writer.close()


def _copy(
    reader: Reader | PgReader, writer: Store | PgStore, target: Path | PostgresUrl, progress: Progress
) -> dict[str, int]:
    held = {table: writer.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COLUMNS}
    if any(held.values()):
        raise LibraryError(
            target, f"already holds a library ({held['files']} files, {held['contents']} contents); copy into a new one"
        )
    copied = dict.fromkeys(COLUMNS, 0)
    with _snapshot(reader), writer.transaction():
        total = sum(reader.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COLUMNS)
        progress(0, total)
        for table in COLUMNS:
            for batch in _batches(reader, table):
                _write(writer, table, batch)
                copied[table] += len(batch)
                progress(sum(copied.values()), total)
        if isinstance(writer, PgStore):
            _advance_identities(writer)
    return copied


@contextmanager
def _snapshot(reader: Reader | PgReader) -> Iterator[None]:
    """Every read of the copy in one read transaction: the rows as they were at its start."""
    if isinstance(reader, PgReader):
        with reader.conn.transaction():
            reader.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield
        return
    reader.conn.execute("BEGIN")
    try:
        yield
    finally:
        reader.conn.execute("ROLLBACK")  # it only read


def _batches(reader: Reader | PgReader, table: str) -> Iterator[list[tuple]]:
    """The rows of `table`, in batches, vectors as float16 arrays."""
    columns = ", ".join(f'"{c}"' for c in COLUMNS[table])
    order = "ORDER BY id" if "id" in COLUMNS[table] else ""
    if isinstance(reader, PgReader):
        cursor = reader.conn.cursor(name=f"copy_{table}", binary=True)  # halfvec parsed from text is slow
        as_array = _vector_as_array
    else:
        cursor = reader.conn.cursor()
        as_array = _blob_as_array
    try:
        cursor.execute(f"SELECT {columns} FROM {table} {order}")
        while rows := cursor.fetchmany(BATCH):
            yield [as_array(row) for row in rows] if table == "vectors" else rows
    finally:
        cursor.close()


def _vector_as_array(row: tuple) -> tuple:
    return (*row[:VECTOR_COLUMN], row[VECTOR_COLUMN].to_numpy().astype(np.float16))


def _blob_as_array(row: tuple) -> tuple:
    return (*row[:VECTOR_COLUMN], np.frombuffer(row[VECTOR_COLUMN], np.float16))


def _write(store: Store | PgStore, table: str, rows: list[tuple]) -> None:
    columns = list(COLUMNS[table])
    if table == "text_lines":  # each store's own form of the key for its text index
        columns.append("grams" if isinstance(store, PgStore) else "chars")
        index_form = grams if isinstance(store, PgStore) else " ".join
        rows = [(*row, index_form(row[KEY_COLUMN])) for row in rows]
    if table == "vectors":
        rows = _vectors_for(store, rows)
    names = ", ".join(f'"{c}"' for c in columns)
    if isinstance(store, PgStore):
        types = _column_types(store, table, columns)  # before the COPY: it holds the connection
        with store.conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    else:
        store.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)


def _column_types(store: PgStore, table: str, columns: list[str]) -> list[int]:
    """The type oids of `table`'s `columns`, as a binary COPY needs them."""
    types = dict(
        store.conn.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0", [table]
        ).fetchall()
    )
    return [types[column] for column in columns]


def _vectors_for(store: Store | PgStore, rows: list[tuple]) -> list[tuple]:
    if not isinstance(store, PgStore):
        return [(*row[:VECTOR_COLUMN], row[VECTOR_COLUMN].tobytes()) for row in rows]
    from pgvector import HalfVector

    store.type_vectors(len(rows[0][VECTOR_COLUMN]))
    return [(*row[:VECTOR_COLUMN], HalfVector(row[VECTOR_COLUMN])) for row in rows]


def _ready_for_queries(store: PgStore, vectors: int) -> None:
    """After the commit: the planner's statistics of the new rows, the text indexes' pending entries merged, and
    from EXACT_LIMIT vectors on the vector index built (PgStore.optimize)."""
    store.conn.execute(f"ANALYZE {', '.join(COLUMNS)}")
    store.optimize(EXACT_LIMIT)


def _advance_identities(store: PgStore) -> None:
    """Rows came with their ids: the id sequences move past them, so the next indexing run adds after."""
    for table in ("contents", "vectors", "files", "text_lines"):
        store.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table} HAVING count(*) > 0"
        )
