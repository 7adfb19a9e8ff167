"""Decoding ahead of the encoder, so that the model never waits for files.

A pool decodes files in scan order while the model encodes earlier ones: threads (PIL, PyAV and hashlib
release the GIL; the default on CPU) or worker processes (the default on CUDA, where one core per GPU
cannot decode as fast as the GPU encodes). The queue is bounded: at most `files_ahead` files are in flight,
enough for two batches of images, and at most `4 x workers` videos, whose frames weigh the most. The time
the consumer spends waiting for the next file (starting the pool, a file still being decoded) is what the
encoder idles for; it is counted in `wait_seconds`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from functools import partial

from ..errors import DecodeError
from .decode import Decoded, DecodeOptions, ToArray, decode_file
from .scan import ScannedFile

DECODE_NICENESS = 19  # the lowest priority: decode threads yield to the encoder
Outcome = Decoded | tuple[str, str]  # a decoded file, or (path, why it was skipped)


class DecodeAhead:
    """Iterate the outcome of decoding each of `files`, in order, decoding ahead in a pool."""

    def __init__(
        self,
        files: Sequence[ScannedFile],
        to_array: ToArray,
        options: DecodeOptions,
        known: Container[str],
        *,
        workers: int,
        rows_ahead: int,
        processes: bool = False,
    ):
        self.files = files
        known = frozenset(known) if processes else known  # sent once to each process, not shared
        self.decode = partial(decode_one, to_array=to_array, options=options, known=known)
        self.workers = max(1, workers)
        self.files_ahead = max(4 * self.workers, rows_ahead)
        self.videos_ahead = 4 * self.workers
        self.processes = processes
        self.wait_seconds = 0.0

    def __iter__(self) -> Iterator[Outcome]:
        asked = time.monotonic()  # from when the consumer asks for the next file until it has it, it waits
        with self._pool() as pool:
            pending: deque[tuple[ScannedFile, Future]] = deque()
            upcoming = iter(self.files)
            self._fill(pool, pending, upcoming)
            while pending:
                _, future = pending.popleft()
                wait([future])
                self._fill(pool, pending, upcoming)
                self.wait_seconds += time.monotonic() - asked
                yield future.result()
                asked = time.monotonic()

    def _fill(self, pool: Executor, pending: deque, upcoming: Iterator[ScannedFile]) -> None:
        """Submit files until the queue is full (in files, or in videos)."""
        videos = sum(file.kind == "video" for file, _ in pending)
        while len(pending) < self.files_ahead and videos < self.videos_ahead:
            file = next(upcoming, None)
            if file is None:
                return
            videos += file.kind == "video"
            pending.append((file, pool.submit(self._task(), file)))

    def _task(self) -> Callable[[ScannedFile], Outcome]:
        return _decode_in_worker if self.processes else self.decode

    def _pool(self) -> Executor:
        if not self.processes:
            return ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="zhclip-decode", initializer=_yield_to_the_encoder
            )
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if context.get_start_method() == "forkserver":  # import once in the server, not once per worker
            context.set_forkserver_preload(["zhclip.search.prefetch", "zhclip.models.transform"])
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_start_worker, initargs=(self.decode,)
        )


def _yield_to_the_encoder() -> None:
    """Lower a decode thread's priority (Linux sets it per thread). With threads, decoding and the encoder share
    the cores; a decode that preempts one of the encoder's threads stalls all of them at the next barrier, so
    decoding runs when the encoder does not compute: `zhclip index` of 200 1080p JPEGs 14.6 -> 17.2 img/s (mean
    of 5 and 3 alternating runs, 2-core AMX Xeon)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)


_worker_decode: list[Callable[[ScannedFile], Outcome]] = []  # set once in each worker process


def _start_worker(decode: Callable[[ScannedFile], Outcome]) -> None:
    """Runs once per worker process: keep the decoder (and the known hashes) instead of sending them per file."""
    _worker_decode.append(decode)


def _decode_in_worker(file: ScannedFile) -> Outcome:
    return _worker_decode[0](file)


def decode_one(file: ScannedFile, to_array: ToArray, options: DecodeOptions, known: Container[str]) -> Outcome:
    """`decode_file`, with every failure turned into (path, reason): a hostile file must not stop the run."""
    try:
        decoded = decode_file(file, to_array, options, known)
        st = os.stat(file.path)
    except DecodeError as exc:
        return file.path, exc.reason
    except OSError as exc:
        return file.path, f"cannot read: {exc.strerror or exc}"
    except Exception as exc:  # a hostile file must not stop the run: report it like any other bad file
        return file.path, f"unexpected {type(exc).__name__}: {exc}"
    if (st.st_size, st.st_mtime_ns) != (file.size, file.mtime_ns):
        return file.path, "changed while being indexed (it will be indexed on the next run)"
    return decoded
