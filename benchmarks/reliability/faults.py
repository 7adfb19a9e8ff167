"""Crash faults: start a process, SIGKILL it at a random moment, check what it left, start it again.

`kill_loop` drives any process factory: `zhclip index` / `zhclip train` subprocesses in the long runs, or
forked children running the same library code in the fast tests (no interpreter start-up per run).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class Running(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...


class Forked:
    """`target()` in a forked child (torch single-threaded there: OpenMP does not survive fork)."""

    def __init__(self, target: Callable[[], None]):
        self._process = multiprocessing.get_context("fork").Process(
            target=_single_threaded, args=(target,), daemon=True
        )
        self._process.start()
        self.pid = self._process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        return self._process.exitcode


def _single_threaded(target: Callable[[], None]) -> None:
    import torch

    torch.set_num_threads(1)
    target()


def zhclip_process(*args: object, log: str | os.PathLike | None = None) -> subprocess.Popen:
    """`zhclip ARGS` as a user runs it (stdout and stderr to `log`, else discarded)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    try:
        return subprocess.Popen([sys.executable, "-m", "zhclip", *map(str, args)], stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log:
            out.close()


@dataclass
class KillStats:
    kills: int = 0  # SIGKILLs delivered to a running process
    survived: int = 0  # kills after which `check` found nothing wrong
    completed: int = 0  # runs that finished before their kill moment
    failures: list[str] = field(default_factory=list)  # runs that failed by themselves, and failed checks
    kill_times: list[float] = field(default_factory=list)


def kill_loop(
    start: Callable[[], Running],
    kills: int,
    window: tuple[float, float],
    deadline: float,
    rng: np.random.Generator,
    check: Callable[[], str] = lambda: "ok",
    between: Callable[[int], None] = lambda n: None,
) -> KillStats:
    """Start, wait a random moment in `window` seconds, SIGKILL, `check` ('ok' or a problem), repeat until
    `kills` kills or `deadline` (monotonic). A run that finishes first is counted; `between(n)` runs after
    every finished run (e.g. to change the library so that the next run has work again)."""
    stats = KillStats()
    while stats.kills < kills and time.monotonic() < deadline:
        moment = float(rng.uniform(*window))
        process = start()
        code = _wait(process, moment)
        if code is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            stats.kills += 1
            stats.kill_times.append(moment)
            problem = check()
            stats.survived += problem == "ok"
            if problem != "ok":
                stats.failures.append(f"after kill {stats.kills} at {moment:.2f} s: {problem}")
        elif code != 0:
            stats.failures.append(f"run exited with {code} by itself")
        else:
            stats.completed += 1
            between(stats.completed)
    return stats


def _wait(process: Running, seconds: float) -> int | None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if (code := process.poll()) is not None:
            return code
        time.sleep(0.01)
    return process.poll()


def run_to_end(start: Callable[[], Running], timeout: float) -> int:
    """Start once more and let it finish: its exit code (the kill loop ends with this run)."""
    process = start()
    code = _wait(process, timeout)
    if code is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return -signal.SIGKILL
    return code
