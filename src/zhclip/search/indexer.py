"""The indexing pipeline: scan -> decode (a pool, ahead) -> encode (batched) -> store (batched commits).

Decoding runs ahead of encoding (`prefetch`), so the model does not wait for files; the time it does wait is
measured and reported as the encoder's idle time. Every `commit_every` seconds the finished files are
committed in one transaction; a killed run loses only that open batch, and the next run picks up where it
stopped.

The files to index come from a `Work`: on an SQLite library (one writer), the scan's own list; on a PostgreSQL
library, which several indexers may update at once, the library's work queue (pg/claims.py), from which each
claims batches with a lease. The pipeline is the same: a batch stores only the files its `Work` still holds.

Paths are the library's (mounts.py): what the scan finds is translated to them, and back to this machine's
paths to open a file, so machines that mount a root at different paths index each file once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from .decode import Decoded, DecodeOptions
from .encode import MediaEncoder
from .errors import LibraryError
from .mounts import Mounts, root_name, unmounted_twins
from .ocr.engine import ENGINE_NAME, OcrEngine, OcrOptions
from .ocr.reading import OcrReading
from .pg.claims import LEASE_S, ClaimedWork
from .prefetch import DecodeAhead
from .scan import DEFAULT_EXCLUDES, ScannedFile, ScanResult, scan
from .speech.reading import start_speech
from .store import FileState
from .stores import AnyStore, is_shared, open_store
from .subtitles.reading import SubtitleCounts, read_subtitles
from .text.reading import TextReader

log = logging.getLogger("zhclip.search")


@dataclass(frozen=True)
class IndexOptions:
    excludes: tuple[str, ...] = DEFAULT_EXCLUDES
    frame_interval: float = 2.0
    min_side: int = 64
    workers: int = max(1, min(4, os.cpu_count() or 1))
    commit_every: float = 2.0  # seconds between commits
    reindex: bool = False  # allowed to replace the vectors of another model
    decode_processes: bool | None = None  # decode in worker processes (None: when the model runs on CUDA)
    ocr: bool | None = None  # read the text in images and videos (None: as the library was told last time)
    ocr_options: OcrOptions = OcrOptions()
    speech: bool | None = None  # transcribe what is said in videos and audio files (None: as last time)
    speech_model: str | None = None  # a Whisper model name, hub id or directory (None: the library's)
    speech_language: str | None = None  # "zh", "auto" (detected per file), ... (None: the library's)
    claim_lease: float = LEASE_S  # a PostgreSQL library: seconds a killed indexer's claims wait for another
    mounts: tuple[tuple[str, str], ...] = ()  # (root name, local path): roots this machine mounts elsewhere


@dataclass
class IndexProgress:
    """A live view of a run, for progress bars and the server's status endpoint."""

    phase: str = "scanning"  # scanning, indexing, waiting (for other indexers' claims), cleaning, done
    total: int = 0  # files that need work (new or changed); a shared library: claimed by this run or unclaimed
    done: int = 0
    held_elsewhere: int = 0  # while waiting: files other indexers hold (a killed one's lapse after its lease)
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    indexing_started: float | None = None
    encode_seconds: float = 0.0  # the model encoding
    idle_seconds: float = 0.0  # the model waiting for a file still being decoded

    @property
    def encoder_idle(self) -> float:
        """The fraction of the indexing time so far that the encoder spent waiting for decoding."""
        elapsed = time.monotonic() - (self.indexing_started or time.monotonic())
        return self.idle_seconds / elapsed if elapsed > 0 else 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass
class IndexSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    reused: int = 0  # files whose content was already encoded (renamed, moved or duplicate files)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    encode_seconds: float = 0.0  # the model encoding
    idle_seconds: float = 0.0  # the model waiting for decoding
    # per text reader of the run (its label): contents it read, of which it could not read (indexed all the same)
    text_read: dict[str, tuple[int, int]] = field(default_factory=dict)
    subtitles: SubtitleCounts = field(default_factory=SubtitleCounts)  # videos whose subtitles were read again
    by_others: int = 0  # a shared library: files this run's scan found to do that other indexers did

    @property
    def ocr(self) -> bool:
        """Whether the run read text in images (OCR)."""
        return "OCR" in self.text_read

    @property
    def ocr_read(self) -> int:
        return self.text_read.get("OCR", (0, 0))[0]

    @property
    def ocr_failed(self) -> int:
        return self.text_read.get("OCR", (0, 0))[1]

    def line(self) -> str:
        text = "".join(f"; {label} read {n} contents ({bad} unreadable)" for label, (n, bad) in self.text_read.items())
        text += f"; {self.subtitles.line()}" if self.subtitles.read else ""
        text += f"; {self.by_others} indexed by other indexers" if self.by_others else ""
        return (
            f"new {self.new}, updated {self.updated}, unchanged {self.unchanged}, removed {self.removed}, "
            f"failed {len(self.failed)} (vectors reused for {self.reused} renamed or duplicate files){text} "
            f"in {self.seconds:.1f} s"
        )


ProgressCallback = Callable[[IndexProgress], None]


def index_library(
    db: str | Path,
    roots: Iterable[str | Path],
    encoder: MediaEncoder,
    options: IndexOptions = IndexOptions(),
    progress: ProgressCallback | None = None,
) -> IndexSummary:
    """Bring the library at `db` up to date with the media files under `roots`."""
    started = time.monotonic()
    roots = [Path(r).expanduser().absolute() for r in roots]
    state = IndexProgress()
    engine = OcrEngine(options.ocr_options) if options.ocr else None  # a missing package fails before any write
    store = open_store(db)
    readers: list[TextReader] = []
    try:
        mounts = Mounts.resolve(store.meta().roots, options.mounts)  # a name the library lacks: before any write
        library_roots = [mounts.to_library(str(r)) for r in roots]
        _warn_of_twins(library_roots, store.meta().roots)
        _bind_model(store, encoder, options, library_roots)
        readers = _start_readers(store, options, engine)
        known = store.file_states()  # before the scan: a file another indexer adds later is never taken for gone
        found = _scan(roots, options, readers, mounts)
        summary = IndexSummary()
        for path, reason in found.skipped:
            _fail(summary, state, path, reason)
        unread = _unread_contents(store, readers)
        reread = {p for p, file in known.items() if file.content_id in unread}
        todo = [f for f in found.files if not _unchanged(known.get(f.path), f) or f.path in reread]
        summary.unchanged = len(found.files) - len(todo)
        run = _Run(store, encoder, options, mounts, known, readers, summary, state, progress)
        with _work(db, store, library_roots, todo, reread, options, encoder.batch_size) as work:
            _index_all(run, work)
        summary.by_others = len({f.path for f in todo} - run.finished)
        summary.text_read = {reader.label: (reader.read, reader.failed) for reader in readers}
        _log_encoder_time(summary, state)
        state.phase = "cleaning"
        _report(progress, state)
        gone = _gone(known, found, library_roots, mounts)
        with store.transaction():
            store.remove_files(gone)
            store.bump_generation()
        summary.removed = len(gone)
        summary.subtitles = read_subtitles(store, options.commit_every)  # sidecars changed beside unchanged videos too
        store.optimize()  # a shared library: its vector index built once it holds enough vectors
    finally:
        for reader in readers:
            reader.close()
        store.close()
    summary.seconds = time.monotonic() - started
    state.phase = "done"
    _report(progress, state)
    return summary


def _warn_of_twins(new_roots: list[str], roots: tuple[str, ...]) -> None:
    for new, recorded in unmounted_twins(new_roots, roots):
        log.warning(
            "%s is new to the library, which has a root of the same name at %s: if it is that folder mounted here, "
            "stop and index with --mount %s=%s instead (else its files are stored twice)",
            new,
            recorded,
            root_name(recorded),
            new,
        )


def _scan(roots: list[Path], options: IndexOptions, readers: list[TextReader], mounts: Mounts) -> ScanResult:
    """What is under `roots` now, by the library's paths (what was skipped: by this machine's, to report)."""
    found = scan(roots, options.excludes, audio=any("audio" in reader.kinds for reader in readers))
    return ScanResult(
        [mounts.library_file(f) for f in found.files],
        found.skipped,
        [mounts.to_library(path) for path in found.unavailable],
    )


def _bind_model(store: AnyStore, encoder: MediaEncoder, options: IndexOptions, roots: list[str]) -> None:
    identity = encoder.identity
    with store.transaction():
        meta = store.meta()
        if not identity.matches(meta.model):
            if not options.reindex:
                raise LibraryError(
                    store.path,
                    f"this library was built with another model "
                    f"({meta.model.source}, {meta.model.arch}); "
                    "use that model, or pass --reindex to rebuild it with this one",
                )
            log.info("--reindex: dropping the vectors of %s", meta.model.source)
            store.clear()
        roots = sorted(set(meta.roots) | set(roots))
        store.set_meta(replace(meta, model=identity, roots=tuple(roots)))


def _start_ocr(store: AnyStore, options: IndexOptions, engine: OcrEngine | None) -> OcrReading | None:
    """OCR for this run, if asked for now or when the library was last indexed; remembered in the library."""
    meta = store.meta()
    on = options.ocr if options.ocr is not None else meta.ocr
    if on and engine is None:
        engine = OcrEngine(options.ocr_options)
    reading = OcrReading(engine, store, options.frame_interval, options.workers) if on else None
    with store.transaction():
        store.set_meta(replace(meta, ocr=on, ocr_engine=ENGINE_NAME if on else meta.ocr_engine))
    return reading


def _start_readers(store: AnyStore, options: IndexOptions, ocr_engine: OcrEngine | None) -> list[TextReader]:
    """The text readers of this run (search/text/reading.py), each on if asked for now or last time."""
    started = [
        _start_ocr(store, options, ocr_engine),
        start_speech(store, options.speech, options.speech_model, options.speech_language),
    ]
    return [reader for reader in started if reader is not None]


def _unread_contents(store: AnyStore, readers: list[TextReader]) -> set[int]:
    """Contents already indexed that a reader has not read yet (a library that just had it turned on)."""
    return {
        content_id
        for digest, content_id, kind in store.content_kinds()
        if any(kind in reader.kinds and reader.wanted(digest) for reader in readers)
    }


def _log_encoder_time(summary: IndexSummary, state: IndexProgress) -> None:
    summary.encode_seconds, summary.idle_seconds = state.encode_seconds, state.idle_seconds
    if state.total:
        log.info(
            "encoder busy %.1f s, idle %.1f s waiting for decoding (%.0f%% of %.1f s indexing)",
            state.encode_seconds,
            state.idle_seconds,
            100 * state.encoder_idle,
            time.monotonic() - (state.indexing_started or time.monotonic()),
        )


def _unchanged(state: FileState | None, file: ScannedFile) -> bool:
    return state is not None and state.size == file.size and state.mtime_ns == file.mtime_ns


def _gone(known: dict[str, FileState], found: ScanResult, roots: list[str], mounts: Mounts) -> list[str]:
    """Library files no longer on disk. Files under what the scan could not look at (a missing root, a
    folder it may not list) stay: an unplugged drive or a permission slip must not empty the library. So does
    a file there again now (put back, or new since the scan: another indexer may have stored it)."""
    scanned = {f.path for f in found.files}
    missing = [p for p in known if p not in scanned and _under(p, roots) and not os.path.lexists(mounts.to_local(p))]
    kept = [p for p in missing if _under(p, found.unavailable)]
    if kept:
        log.warning(
            "kept %d library files under %s: it cannot be read now (unplugged? permissions?)",
            len(kept),
            ", ".join(found.unavailable[:3]),
        )
    return [p for p in missing if not _under(p, found.unavailable)]


def _under(path: str, roots: list[str]) -> bool:
    return any(path == str(r) or path.startswith(str(r).rstrip(os.sep) + os.sep) for r in roots)


def _fail(summary: IndexSummary, state: IndexProgress, path: str, reason: str) -> None:
    log.warning("skipping %s: %s", path, reason)
    summary.failed.append((path, reason))
    state.failed += 1


def _report(progress: ProgressCallback | None, state: IndexProgress) -> None:
    if progress is not None:
        progress(state)


class Work(Protocol):
    """Where the indexer's files come from, and which of them a batch may store."""

    total: int  # files of this run (for progress)

    def __iter__(self) -> Iterator[ScannedFile]:
        """The files to index (a shared library: claimed as they are asked for)."""
        ...

    def finish(self, paths: Iterable[str]) -> set[str]:
        """Of `paths` done, those this run may store (called in the transaction that stores them)."""
        ...

    def lock_contents(self, hashes: Collection[str]) -> None:
        """Hold the contents about to be stored against other indexers storing them at once (in that
        transaction, before storing them)."""
        ...

    def wait_for_peers(self, on_wait: Callable[[int], None]) -> bool:
        """Whether, after waiting for other indexers, there are files again to iterate."""
        ...


class LocalWork:
    """An SQLite library's work: the scan's list, all of it this run's (one writer)."""

    def __init__(self, files: list[ScannedFile]):
        self.files = files
        self.total = len(files)

    def __enter__(self) -> LocalWork:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __iter__(self) -> Iterator[ScannedFile]:
        return iter(self.files)

    def finish(self, paths: Iterable[str]) -> set[str]:
        return set(paths)

    def lock_contents(self, hashes: Collection[str]) -> None:
        pass  # the only writer

    def wait_for_peers(self, on_wait: Callable[[int], None]) -> bool:
        return False


def _work(
    db: str | Path,
    store: AnyStore,
    roots: list[str],
    todo: list[ScannedFile],
    reread: Collection[str],
    options: IndexOptions,
    batch: int,
) -> LocalWork | ClaimedWork:
    """A shared library's work is the queue's files under `roots` (its own and other indexers' scans)."""
    if is_shared(db):
        return ClaimedWork(store, roots, todo, reread, options.claim_lease, batch)
    return LocalWork(todo)


@dataclass
class _Run:
    """What the indexing of one run's files works with and reports to."""

    store: AnyStore
    encoder: MediaEncoder
    options: IndexOptions
    mounts: Mounts
    known: dict[str, FileState]  # the library's files before the scan
    readers: list[TextReader]
    summary: IndexSummary
    state: IndexProgress
    progress: ProgressCallback | None
    finished: set[str] = field(default_factory=set)  # the library's paths this run indexed (or found broken)

    def show(self, phase: str, work: Work, held_elsewhere: int = 0) -> None:
        self.state.phase, self.state.total, self.state.held_elsewhere = phase, work.total, held_elsewhere
        _report(self.progress, self.state)


def _index_all(run: _Run, work: Work) -> None:
    """Index what `work` gives, then (a shared library) wait for other indexers' claims, taking over those that
    lapse, until nothing is left."""
    more = True
    while more:
        run.show("indexing", work)
        _index_files(run, work)
        more = work.wait_for_peers(lambda held: run.show("waiting", work, held))


def _index_files(run: _Run, work: Work) -> None:
    """Decode, encode (and read the text of) and commit the files of `work`. A file that fails loses what the
    library held for it."""
    encoder, state = run.encoder, run.state
    batch = _Batch(run, work, run.store.content_ids())
    waiting: list[Decoded] = []  # in arrival order, so a duplicate never commits before its original
    this_run: set[str] = set()
    ahead = _decode_ahead((run.mounts.local_file(f) for f in work), encoder, batch.contents, run.options)
    state.indexing_started = state.indexing_started or time.monotonic()
    idle_before = state.idle_seconds  # of an earlier pass (a shared library: before waiting for other indexers)
    for item in ahead:
        state.idle_seconds = idle_before + ahead.wait_seconds
        state.done, state.total = state.done + 1, work.total
        if isinstance(item, tuple):
            batch.failed.append(run.mounts.to_library(item[0]))
            _fail(run.summary, state, *item)
        else:
            for reader in run.readers:
                reader.start(item)
            if item.hash in this_run or item.hash in batch.contents:
                item.pixels = None  # same content as a file already encoded: share its vectors
            this_run.add(item.hash)
            _count(run.mounts.library_file(item.file), run.known, item.pixels is None, run.summary)
            waiting.append(item)
            rows = sum(len(d.pixels) for d in waiting if d.pixels is not None)
            if rows >= encoder.batch_size or not rows:  # nothing to encode (audio, copies): ready to commit now
                batch.ready += _encode(encoder, waiting, state)
                waiting = []
        batch.maybe_commit()
        _report(run.progress, state)
    batch.ready += _encode(encoder, waiting, state)
    batch.commit()


def _decode_ahead(
    todo: Iterable[ScannedFile], encoder: MediaEncoder, contents: dict[str, int], options: IndexOptions
) -> DecodeAhead:
    """Decoding two batches ahead of the encoder, in processes when the model runs on CUDA."""
    processes = options.decode_processes
    if processes is None:
        processes = encoder.on_cuda
    return DecodeAhead(
        todo,
        encoder.to_array,
        DecodeOptions(encoder.image_size, options.frame_interval, options.min_side),
        contents,
        workers=options.workers,
        rows_ahead=2 * encoder.batch_size,
        processes=processes,
    )


def _count(file: ScannedFile, known: dict[str, FileState], reused: bool, summary: IndexSummary) -> None:
    if _unchanged(known.get(file.path), file):
        summary.unchanged += 1  # only here for a text reader
        return
    if file.path in known:
        summary.updated += 1
    else:
        summary.new += 1
    summary.reused += reused


def _encode(encoder: MediaEncoder, items: list[Decoded], state: IndexProgress) -> list[Decoded]:
    """Replace each item's pixel rows by their vectors, all items in one batched pass."""
    new = [d for d in items if d.pixels is not None and len(d.pixels)]  # an audio file has no rows
    if new:
        started = time.monotonic()
        vectors = encoder.encode_pixels(np.concatenate([d.pixels for d in new]))
        offsets = np.cumsum([0] + [len(d.pixels) for d in new])
        for item, start, end in zip(new, offsets[:-1], offsets[1:], strict=True):
            item.pixels = vectors[start:end]
        state.encode_seconds += time.monotonic() - started
    return items


class _Batch:
    """Finished (and failed) files waiting to be committed together."""

    def __init__(self, run: _Run, work: Work, contents: dict[str, int]):
        self.store, self.readers, self.known, self.mounts = run.store, run.readers, run.known, run.mounts
        self.finished = run.finished
        self.work = work
        self.contents = contents
        self.every = run.options.commit_every
        self.ready: list[Decoded] = []
        self.failed: list[str] = []  # by the library's paths
        self.last = time.monotonic()

    def maybe_commit(self) -> None:
        if (self.ready or self.failed) and time.monotonic() - self.last >= self.every:
            self.commit()

    def commit(self) -> None:
        for reader in self.readers:
            reader.finish([item.hash for item in self.ready])  # outside the transaction: it may take a while
        with self.store.transaction():
            files = [self.mounts.library_file(item.file) for item in self.ready]
            held = self.work.finish([file.path for file in files] + self.failed)
            self.work.lock_contents({item.hash for item in self.ready} - self.contents.keys())
            for item, file in zip(self.ready, files, strict=True):
                content_id = self._store_content(item)  # even for a file lost to another indexer: a copy may need it
                if file.path in held:
                    self.store.put_file(file, content_id)
            if broken := [p for p in self.failed if p in held and p in self.known]:
                self.store.remove_files(broken)  # a file now broken loses its old vectors
            self.store.bump_generation()
        self.finished |= held
        self.ready, self.failed = [], []
        self.last = time.monotonic()

    def _store_content(self, item: Decoded) -> int:
        """The content's id, its vectors and text stored if new (by hash: another indexer's copy is kept)."""
        content_id = self.contents.get(item.hash)
        if content_id is None:
            times = item.times or [None] * len(item.pixels)
            content_id = self.store.add_content(
                item.hash, item.file.kind, item.info, times, item.pixels, shots=item.info.shots
            )
            self.contents[item.hash] = content_id
        for reader in self.readers:
            reader.save(self.store, item.hash, content_id)
        return content_id
