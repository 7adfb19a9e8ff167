"""PairDataset: items, DataLoader workers, pickling, bad images skipped on request."""

from __future__ import annotations

import base64
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from zhclip.data import PairDataset, build_lmdb
from zhclip.errors import InputError
from zhclip.models import ImageTransform, Tokenizer

from .builders import write_split

IMAGES = {i: (20 * i, 255 - 20 * i, 7 * i) for i in range(1, 7)}
TEXTS = [
    {"text_id": 100 + i, "text": f"第{i}张图，“颜色”", "image_ids": [i] + ([i + 1] if i % 2 else [])}
    for i in range(1, 6)
]


@pytest.fixture
def dataset_dir(tmp_path):
    return write_split(tmp_path, "train", IMAGES, TEXTS)


def _open(root, **kwargs) -> PairDataset:
    return PairDataset(root, "train", ImageTransform(32), Tokenizer(), **kwargs)


def test_items(dataset_dir):
    dataset = _open(dataset_dir)
    assert len(dataset) == 8  # one pair per (text, image id)
    item = dataset[1]
    assert item["pixels"].shape == (3, 32, 32) and item["pixels"].dtype == torch.float32
    assert item["ids"].shape == (52,) and item["ids"].dtype == torch.long
    assert (item["image_id"], item["text_id"], item["index"]) == (2, 101, 1)
    curly = Tokenizer()(['第1张图，"颜色"'])[0]  # Chinese-CLIP straightens curly quotes before tokenising
    assert torch.equal(item["ids"], curly)


@pytest.mark.parametrize("lmdb", [False, True])
def test_dataloader_workers_and_pickle(dataset_dir, lmdb):
    if lmdb:
        build_lmdb(dataset_dir, "train")
    dataset = _open(dataset_dir)
    batches = list(DataLoader(dataset, batch_size=3, num_workers=2))
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(8))
    assert torch.equal(torch.cat([b["pixels"] for b in batches])[5], dataset[5]["pixels"])
    clone = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(clone[7]["pixels"], dataset[7]["pixels"])


def test_dangling_image_ids(dataset_dir):
    write_split(dataset_dir, "train", IMAGES, TEXTS + [{"text_id": 9, "text": "x", "image_ids": [42]}])
    with pytest.raises(InputError, match=r"image id\(s\) \[42\]") as err:
        _open(dataset_dir)
    assert err.value.line == 6
    dataset = _open(dataset_dir, skip_bad=True)
    assert len(dataset) == 8 and dataset.num_skipped == 1


def test_undecodable_image_raises_or_is_replaced(dataset_dir):
    broken = base64.b64encode(b"\x89PNG not really").decode()
    write_split(dataset_dir, "train", {**IMAGES, 7: (0, 0, 0)}, TEXTS + [{"text_id": 9, "text": "x", "image_ids": [7]}])
    lines = (dataset_dir / "train_imgs.tsv").read_text().splitlines()
    lines[-1] = f"7\t{broken}"
    (dataset_dir / "train_imgs.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="does not decode") as err:
        _open(dataset_dir)[8]
    assert err.value.line == 7
    dataset = _open(dataset_dir, skip_bad=True)
    assert dataset[8]["index"] == 0  # the next good pair, wrapping around
    assert dataset.num_skipped == 1
