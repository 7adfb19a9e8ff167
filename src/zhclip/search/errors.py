"""Typed errors of the material search library. The CLI prints them; the web layer maps them to HTTP."""

from __future__ import annotations

from ..errors import DecodeError, InputError, ZhclipError

__all__ = ["DecodeError", "LibraryError", "NotFoundError"]  # DecodeError is the media module's, re-exported


class NotFoundError(ZhclipError):
    """An id (file, vector) that is not in the library."""

    def __init__(self, what: str, key: object):
        self.what = what
        self.key = key
        super().__init__(f"no {what} {key!r} in the library")


class LibraryError(InputError):
    """A library database that cannot be used: not a zhclip library, newer schema, or built with another model."""
