"""Typed errors. Library code raises these; only the CLI prints them and only the web layer maps them to HTTP."""

from __future__ import annotations

from functools import partial
from pathlib import Path


class ZhclipError(Exception):
    """Base class: a user-facing problem with a message that names what is wrong."""


class InputError(ZhclipError):
    """Bad input: a file or field the user supplied. Carries the path (and line/field when known)."""

    def __init__(self, path: str | Path | None, reason: str, *, line: int | None = None, field: str | None = None):
        self.path = None if path is None else str(path)
        self.reason = reason
        self.line = line
        self.field = field
        where = self.path or ""
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f" (field {field!r})"
        super().__init__(f"{where}: {reason}" if where else reason)

    def __reduce__(self):
        # Keep path/line/field when the error crosses a process boundary (worker pools, DataLoader workers).
        return (partial(type(self), line=self.line, field=self.field), (self.path, self.reason))


class DecodeError(InputError):
    """A media file that cannot be decoded: unreadable, corrupt, too large, too small, or not media at all."""


class CheckpointError(InputError):
    """A checkpoint that cannot be read or whose keys/shapes fit no known architecture."""


class ModelNotAvailableError(ZhclipError):
    """A model that cannot be obtained here (hub id not cached while offline, unknown name)."""


class UnsupportedError(ZhclipError):
    """A request this build or device cannot honour (e.g. a precision the hardware lacks)."""


class NumericsError(ZhclipError):
    """A model path that produced NaN or infinite embeddings."""


class MissingExtraError(UnsupportedError):
    """A feature whose optional dependency (a `zhclip[EXTRA]` extra) is not installed."""

    def __init__(self, extra: str, module: str, what: str):
        self.extra, self.module, self.what = extra, module, what
        super().__init__(
            f"{what} needs the optional package {module!r}, which is not installed: pip install 'zhclip[{extra}]'"
        )

    def __reduce__(self):
        return (type(self), (self.extra, self.module, self.what))
