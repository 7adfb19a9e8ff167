"""Step 1 of indexing: walk folders and stat the media files in them (extensions, hidden files, excludes)."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..media import media_kind

DEFAULT_EXCLUDES = ("*thumb*", "*cache*", "__MACOSX", "@eaDir", ".git", "*avatar*", "icons")


@dataclass(frozen=True)
class ScannedFile:
    path: str  # absolute
    size: int
    mtime_ns: int
    kind: str  # "image", "video" or "audio"


@dataclass
class ScanResult:
    files: list[ScannedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    unavailable: list[str] = field(default_factory=list)  # could not be looked at: what is known under it stays

    def cannot_read(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))
        self.unavailable.append(path)


def is_excluded(name: str, excludes: Iterable[str]) -> bool:
    """Hidden names and names matching an exclude pattern (case-insensitive glob on one path component)."""
    lowered = name.lower()
    return name.startswith(".") or any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in excludes)


def scan(roots: Iterable[str | Path], excludes: Iterable[str] = DEFAULT_EXCLUDES, audio: bool = False) -> ScanResult:
    """Every media file under `roots` (files or folders), audio files too when `audio` (a library with speech on).
    Symbolic links are not followed."""
    excludes = tuple(excludes)
    result = ScanResult()
    seen: set[str] = set()
    for root in roots:
        root_path = Path(root).expanduser().absolute()
        if root_path.is_dir():
            _walk(str(root_path), excludes, result, seen, audio)
        elif root_path.is_symlink():
            _skip_link(str(root_path), result)
        elif root_path.is_file():
            _add(None, str(root_path), result, seen, media_kind(root_path, audio))
        else:
            result.cannot_read(str(root_path), "no such file or directory")
    result.files.sort(key=lambda f: f.path)
    return result


def _walk(top: str, excludes: tuple[str, ...], result: ScanResult, seen: set[str], audio: bool) -> None:
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            result.cannot_read(folder, f"cannot list folder: {exc.strerror or exc}")
            continue
        for entry in entries:
            if is_excluded(entry.name, excludes):
                continue
            if entry.is_symlink():
                _skip_link(entry.path, result)
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif (kind := media_kind(entry.name, audio)) is not None:
                _add(entry, entry.path, result, seen, kind)


LINK_REASON = "symbolic link, not followed (index the file or folder it points to instead)"


def _skip_link(path: str, result: ScanResult) -> None:
    """Links are never followed (a loop, or a way out of the library). Those that look like media or lead to
    a folder are reported, so that nothing the user may expect is left out silently."""
    if media_kind(path) is not None or os.path.isdir(path):  # isdir follows the link; a loop is False
        result.skipped.append((path, LINK_REASON))


def _add(entry: os.DirEntry | None, path: str, result: ScanResult, seen: set[str], kind: str | None) -> None:
    if kind is None:
        result.skipped.append((path, "not a supported image or video type"))
        return
    if path in seen:
        return
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        result.skipped.append((path.encode("utf-8", "replace").decode(), "file name is not valid UTF-8; rename it"))
        return
    try:
        st = entry.stat(follow_symlinks=False) if entry is not None else os.stat(path)
    except OSError as exc:
        result.cannot_read(path, f"cannot stat: {exc.strerror or exc}")
        return
    if not stat.S_ISREG(st.st_mode):
        return
    seen.add(path)
    result.files.append(ScannedFile(path, st.st_size, st.st_mtime_ns, kind))
