"""OCR as a step of indexing: read the text of each new content once, in threads of its own.

Photos are decoded again for OCR at up to `read_side` pixels (CLIP's draft-mode pixels are far too small for
text); videos are sampled at the same frame times as for CLIP, each frame read as it is decoded (never held
all at once), and a frame that looks like the previous one reuses its lines. What OCR read waits, keyed by
content hash, until the indexer commits the content: the two are stored in one transaction
(`search.text.reading`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..decode import DecodeOptions, decode_image, decode_video
from ..stores import AnyStore
from ..text.lines import TextLine
from ..text.reading import PooledReader
from .engine import OcrEngine
from .lines import SOURCE, FrameLines

SAME_FRAME = 3.0  # mean absolute difference (0-255) of 32x18 grey thumbnails below which frames count as one


class OcrReading(PooledReader):
    """Reads new photos and videos during an indexing run, in threads of its own beside decoding and encoding."""

    source = SOURCE
    label = "OCR"
    kinds = ("image", "video")

    def __init__(self, engine: OcrEngine, store: AnyStore, frame_interval: float, workers: int):
        super().__init__(store, workers)
        self.engine = engine
        self.frame_interval = frame_interval

    def read_lines(self, path: str, kind: str) -> list[TextLine]:
        return [line for frame in self._read(path, kind) for line in frame.text_lines()]

    def _read(self, path: str, kind: str) -> list[FrameLines]:
        if kind == "image":
            return [read_image(self.engine, path)]
        side = self.engine.options.read_side
        frames: list[FrameLines] = []
        last: list = [None, None]  # thumbnail and lines of the previous frame

        def read_frame(img: Image.Image) -> np.ndarray:
            frames.append(self._video_frame(_bounded(img, side), last))
            return np.zeros(1, np.uint8)

        options = DecodeOptions(side, self.frame_interval, min_side=1)
        _, times, _ = decode_video(path, read_frame, options)
        return [FrameLines(t, f.lines, f.width, f.height) for t, f in zip(times, frames, strict=False)]

    def _video_frame(self, image: np.ndarray, last: list) -> FrameLines:
        thumb = np.asarray(Image.fromarray(image).convert("L").resize((32, 18)), np.float32)
        if last[0] is not None and np.abs(thumb - last[0]).mean() < SAME_FRAME:
            return FrameLines(None, last[1], image.shape[1], image.shape[0])
        frame = FrameLines(None, self.engine.read(image), image.shape[1], image.shape[0])
        last[:] = thumb, frame.lines
        return frame


def _bounded(img: Image.Image, side: int) -> np.ndarray:
    """The image as RGB uint8, its longest side at most `side`."""
    img = img.convert("RGB")
    if max(img.size) > side:
        img.thumbnail((side, side), Image.Resampling.BILINEAR)
    return np.asarray(img)


def read_image(engine: OcrEngine, path: str | Path) -> FrameLines:
    """The lines of one image file, read upright at up to the engine's `read_side` pixels."""
    side = engine.options.read_side
    _, image = decode_image(path, lambda img: _bounded(img, side), DecodeOptions(side, min_side=1), path)
    return FrameLines(None, engine.read(image), image.shape[1], image.shape[0])
