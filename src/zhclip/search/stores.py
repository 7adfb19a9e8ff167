"""Opening a library where `--db` names it: the one place that picks the store. A path opens the SQLite library
(search/store.py), `postgresql://…` the PostgreSQL one (search/pg/store.py); both answer the same methods, so
every command, the indexer and the server work on either."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from .location import PostgresUrl, library_location
from .store import Reader, Store

if TYPE_CHECKING:
    from .pg.store import PgReader, PgStore

AnyStore = Union[Store, "PgStore"]
AnyReader = Union[Reader, "PgReader"]


def open_store(db: str | Path | PostgresUrl) -> AnyStore:
    """The library at `db` opened for writing (created and migrated as needed)."""
    location = db if isinstance(db, PostgresUrl) else library_location(db)
    if isinstance(location, PostgresUrl):
        from .pg.store import PgStore

        return PgStore(location)
    return Store(location)


def open_reader(db: str | Path | PostgresUrl) -> AnyReader:
    """The library at `db` opened for reading."""
    location = db if isinstance(db, PostgresUrl) else library_location(db)
    if isinstance(location, PostgresUrl):
        from .pg.store import PgReader

        return PgReader(location)
    return Reader(location)


def is_shared(db: str | Path | PostgresUrl) -> bool:
    """Whether `db` names a PostgreSQL library (one a team shares) rather than an SQLite file."""
    return isinstance(db, PostgresUrl) or isinstance(library_location(db), PostgresUrl)
