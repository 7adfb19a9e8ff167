"""LMDB form: the exact key layout of Chinese-CLIP's build_lmdb_dataset.py, both directions, and round trips."""

from __future__ import annotations

import pickle

import lmdb
import pytest
import torch
from PIL import Image

from zhclip.data import BadRecords, PairDataset, build_lmdb
from zhclip.errors import InputError
from zhclip.models import ImageTransform, Tokenizer

from .builders import png_b64, write_split

IMAGES = {11: (255, 0, 0), 12: (0, 255, 0), 13: (0, 0, 255)}
TEXTS = [
    {"text_id": 1, "text": "红色", "image_ids": [11]},
    {"text_id": 2, "text": "绿色或红色", "image_ids": [12, 11]},
    {"text_id": 3, "text": "蓝色", "image_ids": [13]},
]


def _raw(path) -> dict[bytes, bytes]:
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        items = dict(txn.cursor())
    env.close()
    return items


def _dataset(root, split="test", skip_bad=False) -> PairDataset:
    return PairDataset(root, split, ImageTransform(16), Tokenizer(), skip_bad=skip_bad)


def test_keys_match_chinese_clip_layout(tmp_path):
    write_split(tmp_path, "test", IMAGES, TEXTS)
    stats = build_lmdb(tmp_path, "test")
    assert (stats.num_images, stats.num_pairs, stats.skipped) == (3, 4, 0)

    imgs = _raw(tmp_path / "lmdb/test/imgs")
    assert imgs.pop(b"num_images") == b"3"
    assert imgs == {str(i).encode(): png_b64(c).encode() for i, c in IMAGES.items()}
    pairs = _raw(tmp_path / "lmdb/test/pairs")
    assert pairs.pop(b"num_samples") == b"4"
    assert {k: pickle.loads(v) for k, v in pairs.items()} == {
        b"0": (11, 1, "红色"),
        b"1": (12, 2, "绿色或红色"),
        b"2": (11, 2, "绿色或红色"),
        b"3": (13, 3, "蓝色"),
    }
    assert sorted(p.name for p in (tmp_path / "lmdb").iterdir()) == ["test"]  # no temp dirs left


def test_lmdb_built_by_chinese_clip_script_loads(tmp_path):
    """Write the LMDB the way build_lmdb_dataset.py does (str keys, pickled tuples, periodic commits), with no
    jsonl or tsv left: PairDataset reads pairs and images from it."""
    (tmp_path / "lmdb/valid").mkdir(parents=True)
    for name, entries, count_key in (
        ("imgs", [(str(i), png_b64(c).encode()) for i, c in IMAGES.items()], b"num_images"),
        (
            "pairs",
            [(str(k), pickle.dumps(p)) for k, p in enumerate([(11, 1, "红色"), (13, 3, "蓝色")])],
            b"num_samples",
        ),
    ):
        env = lmdb.open(str(tmp_path / "lmdb/valid" / name), map_size=1024**3)
        txn = env.begin(write=True)
        for key, value in entries:
            txn.put(key=key.encode("utf-8"), value=value)
        txn.put(key=count_key, value=str(len(entries)).encode("utf-8"))
        txn.commit()
        env.close()
    dataset = _dataset(tmp_path, "valid")
    assert len(dataset) == 2
    item = dataset[1]
    assert (item["image_id"], item["text_id"], item["index"]) == (13, 3, 1)
    assert torch.equal(item["pixels"], ImageTransform(16)(_solid((0, 0, 255))))


def _solid(color):
    return Image.new("RGB", (8, 8), color)


def test_round_trip_tsv_lmdb_reader(tmp_path):
    write_split(tmp_path, "train", IMAGES, TEXTS)
    from_tsv = _dataset(tmp_path, "train")
    build_lmdb(tmp_path, "train")
    from_lmdb = _dataset(tmp_path, "train")
    assert type(from_tsv.images).__name__ == "TsvImages" and type(from_lmdb.images).__name__ == "LmdbImages"
    assert len(from_tsv) == len(from_lmdb) == 4
    for i in range(4):
        a, b = from_tsv[i], from_lmdb[i]
        assert [a[k] for k in ("image_id", "text_id", "index")] == [b[k] for k in ("image_id", "text_id", "index")]
        assert torch.equal(a["pixels"], b["pixels"]) and torch.equal(a["ids"], b["ids"])
    # Pairs read back from the LMDB alone (jsonl gone) are the same pairs, in the same order.
    (tmp_path / "train_texts.jsonl").unlink()
    only_lmdb = _dataset(tmp_path, "train")
    assert [only_lmdb.pairs[i] for i in range(4)] == [from_tsv.pairs[i] for i in range(4)]


def test_bad_records_fail_by_default_and_are_counted_when_skipped(tmp_path):
    write_split(
        tmp_path,
        "test",
        IMAGES,
        TEXTS,
        extra_tsv_lines=["14\tnot-base64!", "15\t" + png_b64((0, 0, 0))[:-40]],
        extra_jsonl_lines=['{"text_id": 4, "text": "缺图"}', '{"text_id": 5, "text": "不存在", "image_ids": [99]}'],
    )
    with pytest.raises(InputError) as err:
        build_lmdb(tmp_path, "test")
    assert err.value.line == 4 and "base64" in err.value.reason
    assert not (tmp_path / "lmdb" / "test").exists()  # nothing half-written

    bad = BadRecords(skip=True)
    stats = build_lmdb(tmp_path, "test", bad)
    assert (stats.num_images, stats.num_pairs, stats.skipped) == (3, 4, 4)
    assert [(e.path.rsplit("/", 1)[1], e.line) for e in bad.errors] == [
        ("test_imgs.tsv", 4),
        ("test_imgs.tsv", 5),
        ("test_texts.jsonl", 4),
        ("test_texts.jsonl", 5),
    ]
    assert "image id(s) [99]" in str(bad.errors[-1])


def test_rebuild_replaces_the_old_lmdb(tmp_path):
    write_split(tmp_path, "test", IMAGES, TEXTS)
    build_lmdb(tmp_path, "test")
    assert len(_dataset(tmp_path)) == 4
    write_split(tmp_path, "test", IMAGES, TEXTS[:1])
    build_lmdb(tmp_path, "test")
    (tmp_path / "test_texts.jsonl").unlink()
    assert len(_dataset(tmp_path)) == 1


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no images for split 'test'"):
        _dataset(tmp_path)
    with pytest.raises(InputError, match="test_imgs.tsv: no such file"):
        build_lmdb(tmp_path, "test")
    assert not any(tmp_path.iterdir())  # nothing created
