"""Subtitles as a step of indexing, always on: they cost no decoding.

After the indexer's main pass, every video of the library whose subtitles signature (its sidecar files' paths,
sizes and mtimes, and a mark that its container's subtitle streams were read) differs from the stored one is
read again: sidecars are parsed, the container's text streams demuxed, no picture decoded. So a new or
changed sidecar beside an unchanged video is read without the video being decoded or encoded again. A
content shared by several files (copies) gets the sidecars of each. A sidecar that cannot be read is skipped
with its reason, logged and stored as the content's error; the video stays indexed. Each batch is committed
in a transaction of its own, and a content's signature is stored with its lines, so a killed run resumes
where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ...errors import DecodeError
from ...media.subtitles import Subtitles, folder_sidecars, read_sidecar, read_streams
from ..stores import AnyStore
from ..text.lines import TextLine

log = logging.getLogger("zhclip.search")
SOURCE = "subtitles"
CONTAINER_READ = "streams read 1"  # in every signature: a change in how videos are read reads them all again


@dataclass
class SubtitleCounts:
    """What a pass read: videos read again, of which with a file that could not be read; cues stored."""

    read: int = 0
    failed: int = 0
    cues: int = 0

    def line(self) -> str:
        return f"subtitles read for {self.read} videos ({self.cues} cues, {self.failed} with an unreadable file)"


@dataclass
class _Video:
    """One video content: its files' paths and their sidecars (each with the file it is beside), as on disk now."""

    content_id: int
    paths: list[str]
    sidecars: list[tuple[Path, Path]]

    def signature(self) -> str:
        stats = [(str(sidecar), os.stat(sidecar)) for sidecar, _ in self.sidecars]
        return json.dumps([CONTAINER_READ, [[path, s.st_size, s.st_mtime_ns] for path, s in stats]], ensure_ascii=False)


@dataclass
class _Folder:
    """A folder as listed: its file names, and the sidecars of each video in it."""

    names: set[str]
    sidecars: dict[str, list[Path]]  # video file name -> its sidecars


def read_subtitles(store: AnyStore, commit_every: float = 2.0) -> SubtitleCounts:
    """Read the subtitles of every video whose signature changed, committing every `commit_every` seconds."""
    counts = SubtitleCounts()
    stored = store.source_signatures(SOURCE)
    pending: list[tuple[int, list[TextLine], str | None, str]] = []
    last = time.monotonic()
    for video in _videos(store):
        try:
            signature = video.signature()
        except OSError:  # a sidecar gone since its folder was listed: the next run sees it as it is then
            continue
        if stored.get(video.content_id) == signature:
            continue
        lines, error = _read(video)
        pending.append((video.content_id, lines, error, signature))
        counts.read += 1
        counts.failed += error is not None
        counts.cues += len(lines)
        if time.monotonic() - last >= commit_every:
            _save(store, pending)
            pending, last = [], time.monotonic()
    _save(store, pending)
    return counts


def _videos(store: AnyStore) -> list[_Video]:
    """The library's videos whose files are there now (the others keep what was read: an unplugged drive must
    not lose their subtitles). Each folder is listed once."""
    paths: dict[int, list[str]] = defaultdict(list)
    for content_id, path in store.video_files():
        paths[content_id].append(path)
    folders: dict[Path, _Folder | None] = {}
    videos = []
    for content_id, files in paths.items():
        found = {Path(p): _folder(Path(p).parent, folders) for p in files}
        if all(folder is not None and path.name in folder.names for path, folder in found.items()):
            beside = [(s, path) for path, folder in found.items() for s in folder.sidecars.get(path.name, ())]
            videos.append(_Video(content_id, files, beside))
    return videos


def _folder(path: Path, folders: dict[Path, _Folder | None]) -> _Folder | None:
    """A folder's files and sidecars, listed once; None when it cannot be listed now."""
    if path not in folders:
        try:
            names = os.listdir(path)
        except OSError:
            folders[path] = None
        else:
            folders[path] = _Folder(set(names), folder_sidecars(path, names))
    return folders[path]


def _read(video: _Video) -> tuple[list[TextLine], str | None]:
    """The cues of a video's sidecars and streams, each cue once, in time order; the reasons of those that
    could not be read."""
    found: list[Subtitles] = []
    errors: list[str] = []
    for sidecar, beside in video.sidecars:
        try:
            found.append(read_sidecar(sidecar, beside))
        except DecodeError as exc:
            errors.append(_skipped(sidecar, exc))
    try:
        found += read_streams(video.paths[0])
    except DecodeError as exc:
        errors.append(_skipped(video.paths[0], exc))
    cues = sorted(dict.fromkeys(c for s in found for c in s.cues), key=lambda c: (c.start, c.end))
    return [TextLine(c.text, c.start, c.end) for c in cues], "; ".join(errors) or None


def _skipped(path: str | Path, exc: DecodeError) -> str:
    log.warning("skipping %s: %s (its video is indexed)", path, exc.reason)
    return f"{Path(path).name}: {exc.reason}"


def _save(store: AnyStore, pending: list[tuple[int, list[TextLine], str | None, str]]) -> None:
    if not pending:
        return
    with store.transaction():
        for content_id, lines, error, signature in pending:
            store.save_lines(content_id, SOURCE, lines, error, signature)
        store.bump_generation()
