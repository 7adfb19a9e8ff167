"""Waiting in tests: poll a condition until it holds or a deadline passes, never sleep for something to settle."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, timeout: float = 60.0, every: float = 0.05) -> T:
    """The first truthy value of `check()`, polled every `every` seconds; AssertionError naming `what` after
    `timeout` seconds (generous: the machine may be busy)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(every)
    return value
