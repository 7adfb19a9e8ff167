"""The server's indexing of the library's folders — on request (/api/rescan) or, with `--watch`, whenever
files change — and its progress for /api/status."""

from __future__ import annotations

import logging
import threading

from ..errors import InputError
from ..search import IndexOptions, IndexProgress, Library, index_library
from ..search.watch import watch_roots
from .errors import BusyError

log = logging.getLogger("zhclip.web")


class Rescan:
    """At most one indexing run at a time. Its model calls run on the compute thread, as every model call
    does (the library's `MediaEncoder` hops there)."""

    def __init__(self, library: Library, refusal: str | None = None):
        """`refusal`: why this server does not index (a server of several processes), said to a rescan request."""
        self.library = library
        self.refusal = refusal
        self.progress: IndexProgress | None = None
        self.summary: str | None = None
        self.error: str | None = None
        self.watching = False
        self.missing_roots: list[str] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._job = threading.Lock()  # held while a run indexes

    @property
    def running(self) -> bool:
        return self._job.locked() or (self._thread is not None and self._thread.is_alive())

    def start(self) -> None:
        if self.refusal:
            raise BusyError(self.refusal)
        with self._lock:
            if self.running:
                raise BusyError("a rescan is already running")
            roots = self.library.local_roots
            if not roots:
                raise InputError(None, "the library records no folders to rescan")
            self.progress, self.error = IndexProgress(), None
            self._thread = threading.Thread(target=self._run, args=(roots,), name="zhclip-rescan", daemon=True)
            self._thread.start()

    def _run(self, roots: list[str]) -> None:
        with self._job:
            try:
                options = IndexOptions(mounts=self.library.mounts.pairs)
                summary = index_library(self.library.path, roots, self.library.encoder, options, progress=self._track)
                self.summary = summary.line()
            except Exception as exc:  # reported through /api/status; the server keeps serving
                log.exception("rescan failed")
                self.error = str(exc)

    def run_now(self) -> None:
        """Index the library's folders now, on this thread (after a run in progress ends)."""
        self.progress, self.error = IndexProgress(), None
        self._run(self.library.local_roots)

    def watch(self, stop: threading.Event) -> threading.Thread:
        """Index the library's folders whenever files under them change (until `stop` is set)."""

        def changed(paths: list[str]) -> None:
            self.run_now()

        def missing(roots: list[str]) -> None:
            self.missing_roots = roots

        self.watching = True
        roots = self.library.local_roots
        thread = threading.Thread(
            target=watch_roots, args=(roots, changed, stop, missing), name="zhclip-watch", daemon=True
        )
        thread.start()
        return thread

    def _track(self, state: IndexProgress) -> None:
        self.progress = state

    def status(self) -> dict:
        p = self.progress
        watch = {"watching": self.watching, "missing_roots": self.missing_roots}
        if p is None:
            return {"running": self.running, "summary": self.summary, "error": self.error, **watch}
        return {
            **watch,
            "running": self.running,
            "phase": p.phase,
            "total": p.total,
            "done": p.done,
            "failed": p.failed,
            "files_per_s": round(p.rate, 2),
            "eta_s": None if p.eta is None else round(p.eta, 1),
            "summary": self.summary,
            "error": self.error,
        }
