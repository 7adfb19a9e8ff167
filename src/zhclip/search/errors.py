"""Typed errors of the material search library. The CLI prints them; the web layer maps them to HTTP."""

from __future__ import annotations

from ..errors import InputError, UnsupportedError, ZhclipError


class DecodeError(InputError):
    """A media file that cannot be indexed: unreadable, corrupt, too large, too small, or not media at all."""


class NotFoundError(ZhclipError):
    """An id (file, vector) that is not in the library."""

    def __init__(self, what: str, key: object):
        self.what = what
        self.key = key
        super().__init__(f"no {what} {key!r} in the library")


class LibraryError(InputError):
    """A library database that cannot be used: not a zhclip library, newer schema, or built with another model."""


class OcrUnavailableError(UnsupportedError):
    """OCR asked for where its engine is not installed."""

    def __init__(self, missing: str):
        super().__init__(
            f"OCR needs the package {missing!r}, which is not installed: pip install 'zhclip[ocr]' "
            "(rapidocr-onnxruntime, PP-OCRv4 Chinese models inside the wheel)"
        )
