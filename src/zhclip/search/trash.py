"""Moving library files to a trash folder and back: never deleted outright, never out of step with the disk.

Each move is one action: its files go to `ROOT/.zhclip-trash/ACTION/` under their path relative to the root
(a hidden folder, so indexing never reads it), beside `action.json` that says where they came from; their
library rows go in the same step. Restoring moves them back; the next indexing run (which `restore` leaves
to the caller) reads them again.

Paths, in the library and in `action.json`, are the library's; a machine that mounts a root elsewhere
(`--mount`) passes its `Mounts`, and the files move where that machine sees them.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError
from ..io import write_json
from .errors import LibraryError, NotFoundError
from .location import PostgresUrl
from .mounts import Mounts
from .stores import AnyReader, open_store

log = logging.getLogger("zhclip.search")
TRASH = ".zhclip-trash"
NO_MOUNTS = Mounts()


@dataclass
class TrashAction:
    id: str
    at: float  # POSIX seconds
    moves: list[tuple[str, str]]  # (original path, path in the trash)

    @property
    def paths(self) -> list[str]:
        return [original for original, _ in self.moves]


def trash_files(reader: AnyReader, roots: list[str], file_ids: list[int], mounts: Mounts = NO_MOUNTS) -> TrashAction:
    """Move the files `file_ids` of the library `reader` reads to the trash of their root and drop them from the
    library."""
    records = [reader.file(i) for i in file_ids]
    action = TrashAction(uuid.uuid4().hex[:12], time.time(), [])
    for record in records:
        root = _root_of(record.path, roots)
        target = str(Path(root) / TRASH / action.id / os.path.relpath(record.path, root))
        try:
            _move(record.path, target, mounts)
        except OSError as exc:
            _undo_moves(action, mounts)
            raise InputError(
                mounts.to_local(record.path), f"cannot move it to the trash: {exc.strerror or exc}"
            ) from None
        action.moves.append((record.path, target))
    try:
        _forget(reader.path, action.paths)
    except LibraryError:
        _undo_moves(action, mounts)
        raise
    for root in {_root_of(p, roots) for p in action.paths}:
        _write_action(Path(mounts.to_local(root)) / TRASH / action.id, action)
    return action


def trashed(roots: list[str], mounts: Mounts = NO_MOUNTS) -> list[TrashAction]:
    """The actions in the trash of `roots`, newest first."""
    found: dict[str, TrashAction] = {}
    for root in mounts.local_roots(roots):
        for manifest in (Path(root) / TRASH).glob("*/action.json"):
            try:
                raw = json.loads(manifest.read_text(encoding="utf-8"))
                found[raw["id"]] = TrashAction(raw["id"], raw["at"], [tuple(m) for m in raw["moves"]])
            except (OSError, ValueError, KeyError) as exc:
                log.warning("unreadable trash record %s: %s", manifest, exc)
    return sorted(found.values(), key=lambda a: -a.at)


def restore(roots: list[str], action_id: str, mounts: Mounts = NO_MOUNTS) -> TrashAction:
    """Move the files of `action_id` back where they were (a place taken meanwhile is refused)."""
    action = next((a for a in trashed(roots, mounts) if a.id == action_id), None)
    if action is None:
        raise NotFoundError("trash action", action_id)
    taken = [mounts.to_local(original) for original in action.paths if os.path.lexists(mounts.to_local(original))]
    if taken:
        raise InputError(taken[0], "a file is there again; move it away to restore the trashed one")
    _undo_moves(action, mounts)
    for root in {_root_of(p, roots) for p in action.paths}:
        folder = Path(mounts.to_local(root)) / TRASH / action.id
        (folder / "action.json").unlink(missing_ok=True)
        _remove_empty_folders(folder)
    return action


def _root_of(path: str, roots: list[str]) -> str:
    for root in sorted(roots, key=len, reverse=True):
        if path.startswith(root.rstrip(os.sep) + os.sep):
            return root
    raise InputError(path, "not under any of the library's folders")


def _forget(db: str | Path | PostgresUrl, paths: list[str]) -> None:
    store = open_store(db)
    try:
        with store.transaction():
            store.remove_files(paths)
            store.bump_generation()
    finally:
        store.close()


def _move(source: str, target: str, mounts: Mounts) -> None:
    """Rename the library path `source` to `target`, where this machine sees them."""
    local_target = mounts.to_local(target)
    Path(local_target).parent.mkdir(parents=True, exist_ok=True)
    os.rename(mounts.to_local(source), local_target)


def _undo_moves(action: TrashAction, mounts: Mounts) -> None:
    for original, target in reversed(action.moves):
        if os.path.lexists(mounts.to_local(target)):
            _move(target, original, mounts)


def _write_action(folder: Path, action: TrashAction) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "action.json", asdict(action))


def _remove_empty_folders(folder: Path) -> None:
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(path.iterdir()):
            path.rmdir()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
