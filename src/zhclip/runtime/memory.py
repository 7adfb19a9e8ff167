"""Handing memory a model no longer uses back to the system."""

from __future__ import annotations

import ctypes
import gc
import sys


def release_memory() -> None:
    """Free what dropped objects held, and return the C heap's free pages to the system (glibc's `malloc_trim`:
    without it, the pages a conversion or a replaced model used stay in the process's RSS)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc's; musl has none
        if trim is not None:
            trim(0)
