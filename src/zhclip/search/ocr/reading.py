"""OCR as a step of indexing: read the text of each new content once, in the decoding worker threads.

Photos are decoded again for OCR at up to `read_side` pixels (CLIP's draft-mode pixels are far too small for
text); videos are sampled at the same frame times as for CLIP, each frame read as it is decoded (never held
all at once), and a frame that looks like the previous one reuses its lines. What OCR read waits here, keyed
by content hash, until the indexer commits the content: the two are stored in one transaction.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from ..decode import Decoded, DecodeOptions, decode_image, decode_video
from ..errors import DecodeError
from ..store import Store
from .engine import OcrEngine
from .lines import FrameLines, ocr_hashes, save_ocr

log = logging.getLogger("zhclip.search")
SAME_FRAME = 3.0  # mean absolute difference (0-255) of 32x18 grey thumbnails below which frames count as one


class OcrReading:
    """Reads new contents during an indexing run and stores the result beside them."""

    def __init__(self, engine: OcrEngine, store: Store, frame_interval: float):
        self.engine = engine
        self.frame_interval = frame_interval
        self.done = ocr_hashes(store.conn)  # read in an earlier run
        self._results: dict[str, tuple[list[FrameLines], str | None]] = {}
        self._claimed: set[str] = set()
        self._lock = threading.Lock()
        self.read = 0
        self.failed = 0

    def wanted(self, digest: str) -> bool:
        return digest not in self.done

    def run(self, decoded: Decoded) -> None:
        """OCR `decoded`'s file unless its content was read before (a copy or rename) or is being read now."""
        with self._lock:
            if decoded.hash in self.done or decoded.hash in self._claimed:
                return
            self._claimed.add(decoded.hash)
        try:
            result = self._read(decoded.file.path, decoded.file.kind), None
        except DecodeError as exc:
            result = [], exc.reason
        except Exception as exc:  # an engine failure on one file must not stop the run, nor lose its CLIP vectors
            result = [], f"{type(exc).__name__}: {exc}"
        if result[1] is not None:
            log.warning("OCR could not read %s: %s (indexed for CLIP search)", decoded.file.path, result[1])
        self._results[decoded.hash] = result

    def save(self, store: Store, digest: str, content_id: int) -> None:
        """Store what was read in `digest` (inside the indexer's commit transaction)."""
        result = self._results.pop(digest, None)
        if result is None:
            return
        save_ocr(store.conn, content_id, *result)
        self.done.add(digest)
        self.read += 1
        self.failed += result[1] is not None

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
