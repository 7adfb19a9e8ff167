"""SQL pieces both the PostgreSQL store (store.py) and its text lines (lines.py) build queries from."""

from __future__ import annotations

from ..store import DATE, Filters

FILES = "files f JOIN contents c ON c.id = f.content_id"


def filter_sql(filters: Filters) -> tuple[str, list]:
    """`Filters` as a PostgreSQL condition on `f` and `c` with its parameters (a path's `%`, `_` and `\\` are
    matched as themselves)."""
    clauses, params = ["true"], []
    if filters.kind is not None:
        clauses.append("c.kind = %s")
        params.append(filters.kind)
    if filters.path_contains:
        clauses.append("lower(f.path) LIKE %s")
        params.append(f"%{like_escape(filters.path_contains.lower())}%")
    if filters.after is not None:
        clauses.append(f"{DATE} >= %s")
        params.append(filters.after)
    if filters.before is not None:
        clauses.append(f"{DATE} < %s")
        params.append(filters.before)
    return " AND ".join(clauses), params


def like_escape(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (backslash is LIKE's escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
