"""`zhclip library copy SRC DST`: a library copied between SQLite and PostgreSQL (either way, or between two of
one kind), every table row for row with its ids, vectors and text as they are: nothing is read or encoded again.
Each store's own index columns are made on the way in (SQLite's FTS tables by its triggers, PostgreSQL's
`grams`). The target must hold no library yet; it is written in one transaction, so a failed copy leaves it
empty."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np

from ..errors import LibraryError
from ..location import PostgresUrl
from ..store import Store
from .lines import grams
from .store import PgStore

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


def copy_library(source: Path | PostgresUrl, target: Path | PostgresUrl) -> dict[str, int]:
    """Copy the library at `source` into `target` (a new SQLite file or an empty PostgreSQL database); the
    number of rows copied per table."""
    if source == target:
        raise LibraryError(target, "the copy's target is its source; name another library")
    if isinstance(source, Path) and not source.is_file():
        raise LibraryError(source, "no such library (create it with `zhclip index FOLDER --db PATH`)")
    reader = _open(source)
    try:
        writer = _open(target)
        try:
            return _copy(reader, writer, target)
        finally:
            writer.close()
    finally:
        reader.close()


def _open(location: Path | PostgresUrl) -> Store | PgStore:
    return PgStore(location) if isinstance(location, PostgresUrl) else Store(location)


def _copy(reader: Store | PgStore, writer: Store | PgStore, target: Path | PostgresUrl) -> dict[str, int]:
    held = writer.conn.execute("SELECT count(*) FROM contents").fetchone()[0]
    if held:
        raise LibraryError(target, f"already holds a library ({held} contents); copy into a new one")
    copied = {}
    with writer.transaction():
        for table in COLUMNS:
            copied[table] = 0
            for batch in _batches(reader, table):
                _write(writer, table, batch)
                copied[table] += len(batch)
        if isinstance(writer, PgStore):
            _advance_identities(writer)
    return copied


def _batches(store: Store | PgStore, table: str) -> Iterator[list[tuple]]:
    """The rows of `table`, in batches, vectors as float16 arrays."""
    columns = ", ".join(f'"{c}"' for c in COLUMNS[table])
    order = "ORDER BY id" if "id" in COLUMNS[table] else ""
    if isinstance(store, PgStore):
        with store.conn.transaction(), store.conn.cursor(name=f"copy_{table}") as cursor:
            cursor.execute(f"SELECT {columns} FROM {table} {order}")
            while rows := cursor.fetchmany(BATCH):
                yield [_vector_as_array(row) for row in rows] if table == "vectors" else rows
        return
    with closing(store.conn.execute(f"SELECT {columns} FROM {table} {order}")) as cursor:
        while rows := cursor.fetchmany(BATCH):
            yield [_blob_as_array(row) for row in rows] if table == "vectors" else rows


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
        marks = ", ".join(["%s"] * len(columns))
        store.conn.cursor().executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    else:
        store.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)


def _vectors_for(store: Store | PgStore, rows: list[tuple]) -> list[tuple]:
    if not isinstance(store, PgStore):
        return [(*row[:VECTOR_COLUMN], row[VECTOR_COLUMN].tobytes()) for row in rows]
    from pgvector import HalfVector

    store.type_vectors(len(rows[0][VECTOR_COLUMN]))
    return [(*row[:VECTOR_COLUMN], HalfVector(row[VECTOR_COLUMN])) for row in rows]


def _advance_identities(store: PgStore) -> None:
    """Rows came with their ids: the id sequences move past them, so the next indexing run adds after."""
    for table in ("contents", "vectors", "files", "text_lines"):
        store.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table} HAVING count(*) > 0"
        )
