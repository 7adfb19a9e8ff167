"""Text sources that read a content while it is indexed (OCR, speech), as the indexer drives them.

The indexer holds a list of `TextReader`s (adding one is one line there). For each file it decodes, it calls
`start`; before each commit, `finish` with the hashes of the contents about to be stored; inside the commit's
transaction, `save` for each of them, so a content and its text are committed together (a killed run loses
both, and the next run reads the content again). `wanted` tells the indexer which contents already in the
library a reader has not read yet (a library that just had it turned on), among the `kinds` it reads.

`PooledReader` is such a reader over a thread pool of its own: a subclass says how to read one file
(`read_lines`); it reads each content once per hash, keeps what it read until the commit, and turns a failure
on one file into that content's `error` (logged; the file stays indexed for CLIP).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from ..decode import Decoded
from ..errors import DecodeError
from ..stores import AnyStore
from .lines import TextLine

log = logging.getLogger("zhclip.search")


class TextReader(Protocol):
    source: str  # its lines' source in the text store ('ocr', 'speech')
    label: str  # how the index summary names it ("OCR", "speech")
    kinds: tuple[str, ...]  # the content kinds it reads ('image', 'video', 'audio')
    read: int  # contents read and saved in this run
    failed: int  # of those, contents it could not read

    def wanted(self, digest: str) -> bool:
        """Whether the content with hash `digest` (of one of `kinds`) is still to be read."""
        ...

    def start(self, decoded: Decoded) -> None:
        """Start reading a decoded file's content, unless it is read already or not of `kinds`."""
        ...

    def finish(self, digests: Iterable[str]) -> None:
        """Wait until the contents `digests` that are being read are read (before the commit that saves them)."""
        ...

    def save(self, store: AnyStore, digest: str, content_id: int) -> None:
        """Store what was read in `digest` (inside the indexer's commit transaction, after `finish`)."""
        ...

    def close(self) -> None:
        """Stop reading (what was not committed is read again by the next run)."""
        ...


class PooledReader:
    """A `TextReader` reading in `workers` threads of its own. Its methods are called from the indexing thread."""

    source: str
    label: str
    kinds: tuple[str, ...]

    def __init__(self, store: AnyStore, workers: int):
        self.done = store.source_hashes(self.source)  # read in an earlier run
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=f"zhclip-{self.source}")
        self._reading: dict[str, Future] = {}
        self._results: dict[str, tuple[list[TextLine], str | None]] = {}
        self.read = 0
        self.failed = 0

    def read_lines(self, path: str, kind: str) -> list[TextLine]:
        """The lines of one file (raise on failure: DecodeError with its reason, or anything the engine raises)."""
        raise NotImplementedError

    def wanted(self, digest: str) -> bool:
        return digest not in self.done

    def start(self, decoded: Decoded) -> None:
        digest, kind = decoded.hash, decoded.file.kind
        if kind in self.kinds and self.wanted(digest) and digest not in self._reading and digest not in self._results:
            self._reading[digest] = self._pool.submit(self._read_safely, decoded.file.path, kind)

    def finish(self, digests: Iterable[str]) -> None:
        for digest in digests:
            if digest in self._reading:
                self._results[digest] = self._reading.pop(digest).result()

    def save(self, store: AnyStore, digest: str, content_id: int) -> None:
        result = self._results.pop(digest, None)
        if result is None:
            return
        lines, error = result
        store.save_lines(content_id, self.source, lines, error)
        self.done.add(digest)
        self.read += 1
        self.failed += error is not None

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def _read_safely(self, path: str, kind: str) -> tuple[list[TextLine], str | None]:
        try:
            return self.read_lines(path, kind), None
        except DecodeError as exc:
            error = exc.reason
        except Exception as exc:  # an engine failure on one file must not stop the run, nor lose its CLIP vectors
            error = f"{type(exc).__name__}: {exc}"
        log.warning("%s could not read %s: %s (the file is indexed all the same)", self.label, path, error)
        return [], error
