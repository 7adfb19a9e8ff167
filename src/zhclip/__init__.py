"""zhclip: Chinese-CLIP models, data, evaluation, training, compression and material search."""

from .errors import CheckpointError, InputError, ModelNotAvailableError, UnsupportedError, ZhclipError
from .models import ClipModel, convert, known_archs
from .runtime import load

__version__ = "0.1.0"

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
