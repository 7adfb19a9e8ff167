"""zhclip: Chinese-CLIP models, data, evaluation, training, compression and material search.

The model API (`load`, `ClipModel`, ...) is imported on first use, so `import zhclip` and the command line's
`--help` do not pay for PyTorch."""

from __future__ import annotations

import importlib

from .errors import CheckpointError, InputError, ModelNotAvailableError, UnsupportedError, ZhclipError

__version__ = "0.1.0"

_LAZY = {"ClipModel": ".models", "convert": ".models", "known_archs": ".models", "load": ".runtime"}

__all__ = [
    "CheckpointError",
    "ClipModel",
    "InputError",
    "ModelNotAvailableError",
    "UnsupportedError",
    "ZhclipError",
    "__version__",
    "convert",
    "known_archs",
    "load",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'zhclip' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
