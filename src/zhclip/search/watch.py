"""Watching a library's folders: each burst of changes (new, changed, deleted, renamed files) is handed on
once it settles, as one batch, however many files it holds; folders that disappear and come back are noticed.

The watching itself is the `watchfiles` package (inotify, FSEvents, ReadDirectoryChangesW; polling elsewhere).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..media.files import AUDIO_SUFFIXES
from ..media.subtitles import SUBTITLE_SUFFIXES

log = logging.getLogger("zhclip.search")

SETTLE_MS = 1500  # a batch is handed on once no new change came for this long...
MAX_WAIT_MS = 10_000  # ...or after this long, whichever is first (a copy of thousands of files keeps going)
CHECK_ROOTS_MS = 3000  # how often missing roots are looked for
# A changed sidecar is read again by the next run; audio files count in libraries with speech on.
WATCHED = IMAGE_SUFFIXES | VIDEO_SUFFIXES | AUDIO_SUFFIXES | SUBTITLE_SUFFIXES


def watch_roots(
    roots: list[str],
    on_changes: Callable[[list[str]], None],
    stop: threading.Event,
    on_missing: Callable[[list[str]], None] = lambda missing: None,
    settle_ms: int = SETTLE_MS,
) -> None:
    """Call `on_changes(paths)` after each settled burst of media changes under `roots` until `stop` is set;
    `on_missing(roots)` whenever the set of roots that are not there changes (and once at the start)."""
    missing: list[str] | None = None
    while not stop.is_set():
        present = [r for r in roots if os.path.isdir(r)]
        now_missing = [r for r in roots if r not in present]
        if now_missing != missing:
            if now_missing:
                log.warning(
                    "watching: %s not there now (unplugged? unmounted?); its files stay", ", ".join(now_missing)
                )
            on_missing(now_missing)
            if missing is not None and len(now_missing) < len(missing):
                on_changes(sorted(set(missing) - set(now_missing)))  # a root is back: look through it
            missing = now_missing
        if not present:
            stop.wait(CHECK_ROOTS_MS / 1000)
            continue
        _watch_while_roots_stay(present, roots, on_changes, stop, settle_ms)


def _watch_while_roots_stay(present, roots, on_changes, stop: threading.Event, settle_ms: int) -> None:
    """Watch `present` until a root goes or comes back. The first batch is handed on even when empty: once
    the watch runs, a look through the roots catches what changed before it started (and nothing after is
    missed)."""
    import watchfiles

    first = True
    for changes in watchfiles.watch(
        *present,
        watch_filter=_media_or_folder,
        debounce=MAX_WAIT_MS,
        step=settle_ms,
        stop_event=stop,
        rust_timeout=CHECK_ROOTS_MS,
        yield_on_timeout=True,
    ):
        if changes:
            paths = sorted({path for _, path in changes})
            log.info("watching: %d changes settled (%s%s)", len(paths), paths[0], ", …" if len(paths) > 1 else "")
            on_changes(paths)
        elif first:
            on_changes(present)
        first = False
        if [r for r in roots if os.path.isdir(r)] != present:
            return  # a root went or came back: watch again with the ones there now


def _media_or_folder(change, path: str) -> bool:
    """Media files, and anything without a suffix (a folder renamed or deleted takes its files with it)."""
    suffix = Path(path).suffix.lower()
    return suffix in WATCHED or suffix == "" or os.path.isdir(path)
