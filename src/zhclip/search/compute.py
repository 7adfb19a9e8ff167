"""The one thread that runs the searcher's model and index computations.

PyTorch's OpenMP keeps a team of worker threads for each thread that calls into it. A server answering on
many request threads therefore had several teams competing for the same cores: a text query that took
40 ms when one thread did all the torch work took 60-70 ms once a second thread had used torch. Loading the
model, building the index and answering queries all on this thread keeps it to one team.

A forked child (a worker process) has no threads but the one that forked: it starts a compute thread of its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhclip-compute")
_thread: list[threading.Thread] = []


def on_compute_thread(fn: Callable[..., T], *args, **kwargs) -> T:
    """fn(*args, **kwargs), run on the compute thread (directly when already on it); exceptions propagate."""
    if _thread and threading.current_thread() is _thread[0]:
        return fn(*args, **kwargs)
    return _executor.submit(_mark_and_call, fn, *args, **kwargs).result()


def _mark_and_call(fn: Callable[..., T], *args, **kwargs) -> T:
    if not _thread:
        _thread.append(threading.current_thread())
    return fn(*args, **kwargs)


def _fresh_after_fork() -> None:
    global _executor
    _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhclip-compute")
    _thread.clear()


os.register_at_fork(after_in_child=_fresh_after_fork)
