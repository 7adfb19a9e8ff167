"""Where zhclip keeps what it measures once per machine (e.g. the `auto` precision choices)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ZHCLIP_CACHE_DIR"


def cache_dir() -> Path:
    """`ZHCLIP_CACHE_DIR`, else ~/.cache/zhclip."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "zhclip")
