"""zhclip: Chinese-CLIP models, data, evaluation, training, compression and material search.

The model API (`load`, `ClipModel`, ...) is imported on first use, so `import zhclip` and the command line's
`--help` do not pay for PyTorch."""

from __future__ import annotations

from .errors import CheckpointError, InputError, ModelNotAvailableError, UnsupportedError, ZhclipError
from .lazy import lazy_names

__version__ = "0.1.0"

_HOMES = {"ClipModel": ".models", "convert": ".models", "known_archs": ".models", "load": ".runtime"}

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

__getattr__, __dir__ = lazy_names(__name__, _HOMES)
