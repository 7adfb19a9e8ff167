"""`PairDataset`: every (text, image) pair of a split, as model-ready tensors, for training and validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import InputError
from .formats import SplitPaths, read_texts
from .images import ImageSource, open_images
from .io import BadRecords
from .lmdb_store import LmdbPairs


def normalize_text(text: str) -> str:
    """Chinese-CLIP's text preprocessing before tokenising: lower case, curly double quotes made straight."""
    return text.lower().replace("“", '"').replace("”", '"')


class Pairs(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[int, int, str]: ...


class JsonlPairs:
    """The pairs of `{split}_texts.jsonl`, one per (text, image id), held as compact arrays."""

    def __init__(self, path: Path, images: ImageSource, bad: BadRecords):
        self.texts: list[str] = []
        image_ids: list[int] = []
        text_ids: list[int] = []
        text_rows: list[int] = []
        for record in read_texts(path, bad):
            missing = [i for i in record.image_ids if i not in images]
            if missing:
                bad.handle(
                    InputError(
                        path, f"image id(s) {missing} not in {images.path.name}", line=record.line, field="image_ids"
                    )
                )
                continue
            image_ids.extend(record.image_ids)
            text_ids.extend([record.text_id] * len(record.image_ids))
            text_rows.extend([len(self.texts)] * len(record.image_ids))
            self.texts.append(record.text)
        self.image_ids = np.array(image_ids, dtype=np.int64)
        self.text_ids = np.array(text_ids, dtype=np.int64)
        self.text_rows = np.array(text_rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> tuple[int, int, str]:
        return int(self.image_ids[index]), int(self.text_ids[index]), self.texts[self.text_rows[index]]


class PairDataset(Dataset):
    """Every (text, image_id) pair of `{split}_texts.jsonl` (or of `lmdb/<split>/pairs` when there is no jsonl).

    Images come from `lmdb/<split>/imgs` when it exists, else from `{split}_imgs.tsv`. Items are dicts:
    `pixels` FloatTensor(3,S,S), `ids` LongTensor(L), `image_id`, `text_id`, `index` (the pair index used).
    Bad records (broken lines, ids that point nowhere) raise InputError at construction, or with
    `skip_bad=True` are left out and counted in `num_skipped`. An image that fails to decode in
    `__getitem__` raises, or with `skip_bad=True` is replaced by the next good pair."""

    def __init__(
        self,
        dataset_dir: str | Path,
        split: str,
        image_transform: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        skip_bad: bool = False,
    ):
        self.paths = SplitPaths(Path(dataset_dir), split)
        self.bad = BadRecords(skip_bad)
        self.images = open_images(dataset_dir, split, self.bad)
        self.pairs = self._open_pairs()
        self.image_transform = image_transform
        self.tokenizer = tokenizer
        self._bad_indices: set[int] = set()
        if not len(self.pairs):
            raise InputError(self.paths.texts_jsonl, f"split {split!r} has no usable image-text pairs")

    def _open_pairs(self) -> Pairs:
        if self.paths.texts_jsonl.is_file() or not self.paths.lmdb_pairs.is_dir():
            return JsonlPairs(self.paths.texts_jsonl, self.images, self.bad)
        return LmdbPairs(self.paths.lmdb_pairs)

    @property
    def num_skipped(self) -> int:
        return self.bad.count

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        for step in range(len(self)):
            current = (index + step) % len(self)
            if current in self._bad_indices:
                continue
            try:
                return self._item(current)
            except InputError as exc:
                self.bad.handle(exc)
                self._bad_indices.add(current)
        raise InputError(self.paths.root, f"no image of split {self.paths.split!r} decodes")

    def _item(self, index: int) -> dict[str, torch.Tensor | int]:
        image_id, text_id, text = self.pairs[index]
        pixels = self.image_transform(self.images.load(image_id))
        ids = self.tokenizer([normalize_text(text)])[0]
        return {"pixels": pixels, "ids": ids, "image_id": image_id, "text_id": text_id, "index": index}
