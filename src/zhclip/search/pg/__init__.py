"""A library in PostgreSQL, for a team: the same tables as the SQLite library (search/store.py, search/text),
with pgvector's `halfvec` for the vectors and pg_trgm for the text, so several indexers and servers on several
machines can share one library. `connection` opens the database and turns a server's refusals into one line
naming the fix; `schema` owns the tables and their migrations; `store` writes and reads them as `Store` and
`Reader` do; `lines` stores and finds text lines; `claims` shares the work among indexers; `copy` copies a
library between SQLite and PostgreSQL. psycopg is imported when a database is opened (the `postgres` extra)."""

from .claims import WorkQueue
from .copy import copy_library
from .store import PgReader, PgStore

__all__ = ["PgReader", "PgStore", "WorkQueue", "copy_library"]
