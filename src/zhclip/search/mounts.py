"""Where this machine sees a library's roots, when it mounts them elsewhere than where they were first indexed
(a NAS at /Volumes/footage on one machine, /mnt/nas/footage on another).

A library stores every path in its own form: under a root as the first indexing saw it (`LibraryMeta.roots`).
A root's name is its folder's name (`footage`), or its whole library path where two roots share a folder
name. A machine that mounts a root elsewhere says so with `--mount NAME=LOCAL_PATH`; paths are translated at
the edge: what a scan finds becomes library paths, and a library path becomes a local one to open the file.
So two indexers that see one folder at two local paths store each file once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from .scan import ScannedFile

MOUNT_FIELD = "--mount"


def parse_mount(text: str) -> tuple[str, str]:
    """`NAME=LOCAL_PATH` as (name, absolute local path)."""
    name, equals, local = text.partition("=")
    if not equals or not name or not local:
        raise InputError(None, f"{text!r} is not NAME=LOCAL_PATH (e.g. footage=/mnt/nas/footage)", field=MOUNT_FIELD)
    return name, str(Path(local).expanduser().absolute())


def root_name(root: str) -> str:
    """A root's name: its folder's name."""
    return Path(root).name or root


def mount_names(roots: Sequence[str]) -> dict[str, str]:
    """The name `--mount` takes for each of `roots`: its folder's name, or its whole path where two roots share
    that name."""
    names = [root_name(root) for root in roots]
    return {root: name if names.count(name) == 1 else root for root, name in zip(roots, names, strict=True)}


def unmounted_twins(new_roots: Iterable[str], roots: Sequence[str]) -> list[tuple[str, str]]:
    """(new root, library root) pairs where a root new to the library has the name of one it has: likely the
    same folder mounted elsewhere without `--mount` (its files would be stored twice)."""
    named = {root_name(root): root for root in roots}
    return [(new, named[root_name(new)]) for new in new_roots if new not in roots and root_name(new) in named]


@dataclass(frozen=True)
class Mounts:
    """This machine's local paths of some of the library's roots: (library root, local root) pairs."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def resolve(cls, roots: Sequence[str], mounts: Iterable[tuple[str, str]]) -> Mounts:
        """`mounts` (name, local path) against the library's `roots`; an InputError for a name that is no root's
        or that two roots share."""
        pairs = []
        for name, local in mounts:
            named = [r for r in roots if name in (root_name(r), r)]
            if len(named) != 1:
                known = ", ".join(f"{root_name(r)} ({r})" for r in roots) or "none yet: index it once without --mount"
                problem = "no root" if not named else "more than one root"
                raise InputError(
                    None,
                    f"the library has {problem} named {name!r}; its roots: {known} (a root shared by name with "
                    "another is named by its whole path)",
                    field=MOUNT_FIELD,
                )
            pairs.append((named[0], local))
        return cls(tuple(pairs))

    def to_library(self, path: str) -> str:
        """A local path in the library's form (unchanged outside the mounted roots)."""
        return self._swap(path, {local: root for root, local in self.pairs})

    def to_local(self, path: str) -> str:
        """A library path where this machine sees it (unchanged outside the mounted roots)."""
        return self._swap(path, dict(self.pairs))

    def library_file(self, file: ScannedFile) -> ScannedFile:
        return replace(file, path=self.to_library(file.path)) if self.pairs else file

    def local_file(self, file: ScannedFile) -> ScannedFile:
        return replace(file, path=self.to_local(file.path)) if self.pairs else file

    def local_roots(self, roots: Iterable[str]) -> list[str]:
        """The library's `roots` where this machine sees them (for watching them)."""
        return [self.to_local(root) for root in roots]

    @staticmethod
    def _swap(path: str, prefixes: dict[str, str]) -> str:
        for old, new in prefixes.items():
            if path == old:
                return new
            if path.startswith(old.rstrip(os.sep) + os.sep):
                return new.rstrip(os.sep) + path[len(old.rstrip(os.sep)) :]
        return path
