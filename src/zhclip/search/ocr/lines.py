"""OCR's lines as the text store holds them (search/text): one `TextLine` per line read, its time the frame's
(None in an image), its box in fractions of the image's width and height."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..stores import AnyStore
from ..text.lines import TextLine
from .engine import OcrLine

SOURCE = "ocr"


@dataclass(frozen=True)
class FrameLines:
    """The lines read in one image (t None) or one sampled video frame of `width` x `height` pixels."""

    t: float | None
    lines: Sequence[OcrLine]
    width: int
    height: int

    def text_lines(self) -> list[TextLine]:
        return [TextLine(line.text, self.t, None, line.confidence, self._fractions(line)) for line in self.lines]

    def _fractions(self, line: OcrLine) -> list[list[float]]:
        return [[round(x / self.width, 4), round(y / self.height, 4)] for x, y in line.box]


def save_ocr(store: AnyStore, content_id: int, frames: Iterable[FrameLines], error: str | None) -> None:
    """Store what OCR read in a content (call inside the transaction that stores the content)."""
    store.save_lines(content_id, SOURCE, [line for frame in frames for line in frame.text_lines()], error)
