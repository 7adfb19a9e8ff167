"""A library whose folder moved (another drive letter, a NAS mount): its stored paths re-rooted in place, so
the next indexing run finds every file where the library says it is and reads none of them again."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from .store import Store


@dataclass(frozen=True)
class MoveSummary:
    moved: int  # file rows re-rooted
    restat: int  # of them, files whose size or modification time differs at the new place (read again next run)
    missing: int  # of them, files not (yet) at the new place

    def line(self) -> str:
        return f"re-rooted {self.moved} files ({self.missing} not found there, {self.restat} changed there)"


def move_root(db: str | Path, old: str, new: str) -> MoveSummary:
    """Re-root the library's root `old` (exactly as `zhclip library info` lists it) at `new`."""
    new = str(Path(new).expanduser().absolute())
    store = Store(db)
    try:
        with store.transaction():
            meta = store.meta()
            old = _known_root(meta.roots, old, store.path)
            if new in meta.roots:
                raise InputError(None, f"{new} is already a root of the library", field="NEW_ROOT")
            every = store.conn.execute("SELECT path, size, mtime_ns FROM files").fetchall()
            rows = [row for row in every if row[0] == old or row[0].startswith(old.rstrip(os.sep) + os.sep)]
            moved = [(new + path[len(old) :], path) for path, _, _ in rows]
            if clash := {target for target, _ in moved} & {row[0] for row in every}:
                raise InputError(None, f"the library already holds files under {new}, e.g. {min(clash)}")
            store.conn.executemany("UPDATE files SET path = ? WHERE path = ?", moved)
            roots = tuple(sorted(new if r == old else r for r in meta.roots))
            store.set_meta(replace(meta, roots=roots))
            store.bump_generation()
    finally:
        store.close()
    missing = restat = 0
    for (_, size, mtime), (target, _) in zip(rows, moved, strict=True):
        try:
            st = os.stat(target)
        except OSError:
            missing += 1
            continue
        restat += (st.st_size, st.st_mtime_ns) != (size, mtime)
    return MoveSummary(len(rows), restat, missing)


def _known_root(roots: tuple[str, ...], old: str, library: Path) -> str:
    for candidate in (old, str(Path(old).expanduser().absolute())):
        if candidate in roots:
            return candidate
    listed = "\n  ".join(roots) or "(none)"
    raise InputError(library, f"{old} is not a root of the library; its roots are:\n  {listed}", field="OLD_ROOT")
