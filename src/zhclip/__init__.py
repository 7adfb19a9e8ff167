"""zhclip: Chinese-CLIP models, data, evaluation, training, compression and material search.

The model API (`load`, `ClipModel`, ...) is imported on first use, so `import zhclip` and the command line's
`--help` do not pay for PyTorch."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import CheckpointError, InputError, ModelNotAvailableError, UnsupportedError, ZhclipError
from .lazy import lazy_names

try:  # the one version number is pyproject.toml's
    __version__ = version("zhclip")
except PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "0+unknown"

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
