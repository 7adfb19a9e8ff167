"""A library whose folder moved (another drive letter, a NAS mount): its stored paths re-rooted in place, so
the next indexing run finds every file where the library says it is and reads none of them again."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from .location import PostgresUrl
from .stores import open_store


@dataclass(frozen=True)
class MoveSummary:
    moved: int  # file rows re-rooted
    restat: int  # of them, files whose size or modification time differs at the new place (read again next run)
    missing: int  # of them, files not (yet) at the new place

    def line(self) -> str:
        return f"re-rooted {self.moved} files ({self.missing} not found there, {self.restat} changed there)"


def move_root(db: str | Path | PostgresUrl, old: str, new: str) -> MoveSummary:
    """Re-root the library's root `old` (exactly as `zhclip library info` lists it) at `new`."""
    new = str(Path(new).expanduser().absolute())
    store = open_store(db)
    try:
        with store.transaction():
            meta = store.meta()
            old = _known_root(meta.roots, old, store.path)
            if new in meta.roots:
                raise InputError(None, f"{new} is already a root of the library", field="NEW_ROOT")
            every = store.file_states()
            inside = old.rstrip(os.sep) + os.sep
            rows = [(p, s.size, s.mtime_ns) for p, s in every.items() if p == old or p.startswith(inside)]
            moved = [(new + path[len(old) :], path) for path, _, _ in rows]
            if clash := {target for target, _ in moved} & every.keys():
                raise InputError(None, f"the library already holds files under {new}, e.g. {min(clash)}")
            store.rename_files(moved)
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


def _known_root(roots: tuple[str, ...], old: str, library: Path | PostgresUrl) -> str:
    for candidate in (old, str(Path(old).expanduser().absolute())):
        if candidate in roots:
            return candidate
    listed = "\n  ".join(roots) or "(none)"
    raise InputError(library, f"{old} is not a root of the library; its roots are:\n  {listed}", field="OLD_ROOT")
