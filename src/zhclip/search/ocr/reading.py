"""OCR as a step of indexing: read the text of each new content once, in threads of its own.

Photos are decoded again for OCR at up to `read_side` pixels (CLIP's draft-mode pixels are far too small for
text); videos are sampled at the same frame times as for CLIP, each frame read as it is decoded (never held
all at once), and a frame that looks like the previous one reuses its lines. What OCR read waits here, keyed
by content hash, until the indexer commits the content: the two are stored in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from ..decode import Decoded, DecodeOptions, decode_image, decode_video
from ..errors import DecodeError
from ..store import Store
from ..text.lines import source_hashes
from .engine import OcrEngine
from .lines import SOURCE, FrameLines, save_ocr

log = logging.getLogger("zhclip.search")
SAME_FRAME = 3.0  # mean absolute difference (0-255) of 32x18 grey thumbnails below which frames count as one


class OcrReading:
    """Reads new contents during an indexing run, in threads of its own beside decoding and encoding, and
    stores the result beside them. Its methods are called from the indexing thread only."""

    def __init__(self, engine: OcrEngine, store: Store, frame_interval: float, workers: int):
        self.engine = engine
        self.frame_interval = frame_interval
        self.done = source_hashes(store.conn, SOURCE)  # read in an earlier run
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="zhclip-ocr")
        self._reading: dict[str, Future] = {}
        self._results: dict[str, tuple[list[FrameLines], str | None]] = {}
        self.read = 0
        self.failed = 0

    def wanted(self, digest: str) -> bool:
        return digest not in self.done

    def start(self, decoded: Decoded) -> None:
        """Start reading `decoded`'s file unless its content was read before (a copy or rename) or is being read."""
        digest = decoded.hash
        if digest not in self.done and digest not in self._reading and digest not in self._results:
            self._reading[digest] = self._pool.submit(self._read_safely, decoded.file.path, decoded.file.kind)

    def finish(self, digests: Iterable[str]) -> None:
        """Wait until the contents `digests` that are being read are read (before the commit that saves them)."""
        for digest in digests:
            if digest in self._reading:
                self._results[digest] = self._reading.pop(digest).result()

    def save(self, store: Store, digest: str, content_id: int) -> None:
        """Store what was read in `digest` (inside the indexer's commit transaction, after `finish`)."""
        result = self._results.pop(digest, None)
        if result is None:
            return
        save_ocr(store.conn, content_id, *result)
        self.done.add(digest)
        self.read += 1
        self.failed += result[1] is not None

    def close(self) -> None:
        """Stop reading (what was not committed is read again by the next run)."""
        self._pool.shutdown(cancel_futures=True)

    def _read_safely(self, path: str, kind: str) -> tuple[list[FrameLines], str | None]:
        try:
            return self._read(path, kind), None
        except DecodeError as exc:
            error = exc.reason
        except Exception as exc:  # an engine failure on one file must not stop the run, nor lose its CLIP vectors
            error = f"{type(exc).__name__}: {exc}"
        log.warning("OCR could not read %s: %s (indexed for CLIP search)", path, error)
        return [], error

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
