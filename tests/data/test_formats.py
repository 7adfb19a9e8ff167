"""tsv/jsonl readers and writers: round trips, bad lines reported by file and line, skip-and-count."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from zhclip.data import BadRecords, TextRecord, read_texts, write_texts, write_tsv
from zhclip.data.formats import decode_image_b64, encode_image_b64, iter_tsv
from zhclip.data.images import TsvImages
from zhclip.errors import InputError

from .builders import png_b64, write_split


def test_tsv_and_jsonl_round_trip(tmp_path):
    write_tsv(tmp_path / "x_imgs.tsv", [(7, png_b64((255, 0, 0))), (3, png_b64((0, 0, 255)))])
    records = [TextRecord(1, "红色的方块", (7,)), TextRecord(2, "两个“蓝色”方块", (3, 7))]
    write_texts(tmp_path / "x_texts.jsonl", records)

    rows = list(iter_tsv(tmp_path / "x_imgs.tsv"))
    assert [(r.image_id, r.line) for r in rows] == [(7, 1), (3, 2)]
    assert decode_image_b64(rows[1].b64, "x").getpixel((0, 0)) == (0, 0, 255)
    assert [(r.text_id, r.text, r.image_ids) for r in read_texts(tmp_path / "x_texts.jsonl")] == [
        (1, "红色的方块", (7,)),
        (2, "两个“蓝色”方块", (3, 7)),
    ]
    assert "红色" in (tmp_path / "x_texts.jsonl").read_text(encoding="utf-8")  # readable, not \\u escapes


def test_tsv_images_load_safely_from_many_threads(tmp_path):
    """Decoding threads share one file handle per process (a race here once returned the wrong line)."""
    rng = np.random.default_rng(0)
    noise = {i: rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8) for i in range(60)}  # long tsv lines
    write_tsv(tmp_path / "test_imgs.tsv", [(i, encode_image_b64(Image.fromarray(a), "PNG")) for i, a in noise.items()])
    images = TsvImages(tmp_path / "test_imgs.tsv")
    with ThreadPoolExecutor(8) as pool:
        loaded = list(pool.map(lambda i: np.asarray(images.load(i)), list(noise) * 4))
    assert all(np.array_equal(a, noise[i]) for a, i in zip(loaded, list(noise) * 4, strict=True))


def test_tsv_index_seeks_lines_and_accepts_urlsafe_base64(tmp_path):
    data = base64.b64decode(png_b64((10, 200, 30)))
    urlsafe = base64.urlsafe_b64encode(data).decode()
    write_split(tmp_path, "test", {5: (1, 2, 3)}, [], extra_tsv_lines=[f"9\t{urlsafe}"])
    images = TsvImages(tmp_path / "test_imgs.tsv")
    assert images.ids.tolist() == [5, 9] and 9 in images and 4 not in images
    assert images.load(9).getpixel((0, 0)) == (10, 200, 30)
    assert images.load(5).getpixel((3, 3)) == (1, 2, 3)


@pytest.mark.parametrize(
    "line, field, reason",
    [
        ('{"text": "a", "image_ids": [1]}', "text_id", "missing field"),
        ('{"text_id": "1", "text": "a", "image_ids": [1]}', "text_id", "must be an integer"),
        ('{"text_id": 1, "text": 5, "image_ids": [1]}', "text", "must be a string"),
        ('{"text_id": 1, "text": "a", "image_ids": []}', "image_ids", "non-empty list"),
        ('{"text_id": 1, "text": "a", "image_ids": ["1"]}', "image_ids", "non-empty list"),
        ('{"text_id": 1, "text": "a", "image_ids": [1]', None, "not a JSON line"),
    ],
)
def test_bad_jsonl_line_names_file_line_and_field(tmp_path, line, field, reason):
    path = tmp_path / "t_texts.jsonl"
    path.write_text('{"text_id": 0, "text": "好", "image_ids": [1]}\n\n' + line + "\n")
    with pytest.raises(InputError) as err:
        list(read_texts(path))
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 3, field)
    assert reason in err.value.reason
    assert f"{path}:3" in str(err.value)


@pytest.mark.parametrize(
    "line, reason",
    [
        ("12", "found 1 column"),
        ("abc\tAAAA", "is not an integer"),
    ],
)
def test_bad_tsv_line_is_reported_with_line(tmp_path, line, reason):
    write_split(tmp_path, "test", {1: (0, 0, 0)}, [], extra_tsv_lines=[line])
    with pytest.raises(InputError, match=reason) as err:
        list(iter_tsv(tmp_path / "test_imgs.tsv"))
    assert err.value.line == 2


def test_undecodable_images_name_their_line(tmp_path):
    garbage = base64.b64encode(b"not an image").decode()
    write_split(tmp_path, "test", {1: (0, 0, 0)}, [], extra_tsv_lines=["2\t!!notbase64!!", f"3\t{garbage}"])
    images = TsvImages(tmp_path / "test_imgs.tsv")
    with pytest.raises(InputError, match="not valid base64") as err:
        images.load(2)
    assert err.value.line == 2
    with pytest.raises(InputError, match="does not decode") as err:
        images.load(3)
    assert err.value.line == 3


def test_skip_bad_skips_and_counts(tmp_path):
    path = tmp_path / "t_texts.jsonl"
    path.write_text(
        '{"text_id": 0, "text": "a", "image_ids": [1]}\nnot json\n{"text": "b"}\n'
        '{"text_id": 3, "text": "c", "image_ids": [2]}\n'
    )
    bad = BadRecords(skip=True)
    assert [r.text_id for r in read_texts(path, bad)] == [0, 3]
    assert bad.count == 2 and [e.line for e in bad.errors] == [2, 3]


def test_duplicate_image_ids_in_tsv_are_bad(tmp_path):
    write_split(tmp_path, "test", {1: (0, 0, 0)}, [], extra_tsv_lines=[f"1\t{png_b64((1, 1, 1))}"])
    with pytest.raises(InputError, match="repeats line 1"):
        TsvImages(tmp_path / "test_imgs.tsv")
    bad = BadRecords(skip=True)
    assert len(TsvImages(tmp_path / "test_imgs.tsv", bad)) == 1 and bad.count == 1
