"""Random access to a split's images by id, from `lmdb/<split>/imgs` or from `{split}_imgs.tsv`.

The tsv is never read into memory: one streaming pass records each image's byte offset, and a lookup
seeks to its line. Both sources are picklable and reopen their files lazily in each process."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
from PIL import Image

from ..errors import InputError
from .formats import SplitPaths, decode_image_b64, iter_tsv, parse_tsv_line
from .io import BadRecords
from .lmdb_store import NUM_IMAGES_KEY, LmdbReader


class ImageSource(Protocol):
    path: Path

    @property
    def ids(self) -> np.ndarray: ...

    def __len__(self) -> int: ...

    def __contains__(self, image_id: object) -> bool: ...

    def load(self, image_id: int) -> Image.Image: ...


class TsvImages:
    """`{split}_imgs.tsv` with an in-memory index image_id -> byte offset (16 bytes per image)."""

    def __init__(self, path: str | Path, bad: BadRecords | None = None):
        self.path = Path(path)
        bad = bad or BadRecords()
        seen: dict[int, int] = {}
        offsets = []
        for row in iter_tsv(self.path, bad):
            if row.image_id in seen:
                bad.handle(
                    InputError(
                        self.path,
                        f"image id {row.image_id} repeats line {seen[row.image_id]}",
                        line=row.line,
                        field="image_id",
                    )
                )
                continue
            seen[row.image_id] = row.line
            offsets.append((row.image_id, row.offset, row.line))
        table = np.array(offsets, dtype=np.int64).reshape(-1, 3)
        self._ids, self._offsets, self._lines = table[:, 0], table[:, 1], table[:, 2]
        self._order = np.argsort(self._ids, kind="stable")
        self._sorted_ids = self._ids[self._order]
        self._file: BinaryIO | None = None
        self._pid = -1
        self._lock = threading.Lock()

    @property
    def ids(self) -> np.ndarray:
        """Image ids in file order."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, image_id: object) -> bool:
        return self._position(image_id) is not None

    def _position(self, image_id: object) -> int | None:
        if not isinstance(image_id, int | np.integer) or not len(self._ids):
            return None
        pos = int(np.searchsorted(self._sorted_ids, image_id))
        found = pos < len(self._sorted_ids) and self._sorted_ids[pos] == image_id
        return int(self._order[pos]) if found else None

    def load(self, image_id: int) -> Image.Image:
        pos = self._position(image_id)
        if pos is None:
            raise InputError(self.path, f"no image with id {image_id}")
        line = int(self._lines[pos])
        with self._lock:  # one handle per process, shared by decoding threads: seek + read together
            handle = self._handle()
            handle.seek(int(self._offsets[pos]))
            raw = handle.readline()
        return decode_image_b64(parse_tsv_line(raw, self.path, line).b64, self.path, line=line)

    def _handle(self) -> BinaryIO:
        if self._file is None or self._pid != os.getpid():
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open for repeated seeks, one per process
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": -1, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())


class LmdbImages:
    """`lmdb/<split>/imgs` as written by Chinese-CLIP's `build_lmdb_dataset.py` (or `zhclip data lmdb`)."""

    def __init__(self, path: str | Path):
        self.reader = LmdbReader(path, NUM_IMAGES_KEY)
        self.path = self.reader.path
        self._ids = np.array([self._parse_key(k) for k in self.reader.keys()], dtype=np.int64)

    def _parse_key(self, key: bytes) -> int:
        try:
            return int(key)
        except ValueError:
            raise InputError(self.path, f"key {key[:40]!r} is not an image id") from None

    @property
    def ids(self) -> np.ndarray:
        """Image ids in LMDB key order (the order Chinese-CLIP's feature extraction uses)."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, image_id: object) -> bool:
        return isinstance(image_id, int | np.integer) and self.reader.get_raw(b"%d" % image_id) is not None

    def load(self, image_id: int) -> Image.Image:
        raw = self.reader.get_raw(b"%d" % image_id)
        if raw is None:
            raise InputError(self.path, f"no image with id {image_id}")
        return decode_image_b64(raw, self.path, what=f"image {image_id}")


def open_images(dataset_dir: str | Path, split: str, bad: BadRecords | None = None) -> ImageSource:
    """The LMDB images of the split if they exist, else its tsv."""
    paths = SplitPaths(Path(dataset_dir), split)
    if paths.lmdb_imgs.is_dir():
        return LmdbImages(paths.lmdb_imgs)
    if paths.imgs_tsv.is_file():
        return TsvImages(paths.imgs_tsv, bad)
    raise InputError(
        dataset_dir, f"no images for split {split!r}: neither {paths.imgs_tsv.name} nor lmdb/{split}/imgs exists"
    )
