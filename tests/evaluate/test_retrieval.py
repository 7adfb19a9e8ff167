"""evaluate_retrieval: known answers through the whole pipeline (ties, multi-gold), files, bad data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zhclip.errors import InputError
from zhclip.evaluate.recall import compute_recall, invert_gold
from zhclip.evaluate.retrieval import evaluate_retrieval, output_files

from ..data.builders import write_split

# Solid-colour images; the stub model's feature is the colour direction, so similarities are known exactly.
IMAGES = {
    1: (255, 0, 0),
    2: (0, 255, 0),
    3: (0, 0, 255),
    4: (128, 0, 0),
    5: (200, 200, 0),
    6: (0, 200, 200),
    7: (200, 0, 200),
    8: (100, 100, 100),
    9: (255, 100, 0),
    10: (0, 100, 255),
    11: (100, 0, 255),
    12: (50, 255, 50),
}
TEXTS = [  # query colour -> gold; rank of the first gold image worked out by hand
    (1, "255,0,0", [4]),  # 1 and 4 tie at 1.0; the tie goes to image 1 (first in the tsv): rank 2
    (2, "255,0,0", [1]),  # rank 1
    (3, "0,0,255", [3, 10]),  # multi-gold, rank 1
    (4, "0,255,0", [5]),  # 2, 12, then 5 and 6 tie: rank 3
    (5, "0,0,255", [1]),  # 3, 10/11 tie, 6/7 tie, 8, 12, then the zero scores in order 1, 2, ...: rank 8
    (6, "255,0,0", [11]),  # 1, 4, 9, 5/7 tie, 8, then 11: rank 7
    (7, "0,255,0", [11]),  # 2, 12, 5, 6, 8, 9, 10, then zeros 1, 3, 4, 7, 11: rank 12, a miss
    (8, "100,100,100", [8]),  # rank 1
    (9, "0,200,200", [6]),  # rank 1
    (10, "200,0,200", [7]),  # rank 1
]


class ColourModel:
    """Duck-types the parts of ClipModel that evaluation uses."""

    embed_dim = 3

    @staticmethod
    def transform(image):
        return torch.tensor(image.convert("RGB").getpixel((0, 0)), dtype=torch.float32)

    @staticmethod
    def tokenizer(texts):
        return torch.tensor([[float(x) for x in text.split(",")] for text in texts])

    @staticmethod
    def encode_pixels(batch):
        return F.normalize(batch.float(), dim=-1).numpy()

    encode_ids = encode_pixels


@pytest.fixture
def colours(tmp_path):
    return write_split(
        tmp_path / "colours",
        "test",
        IMAGES,
        [{"text_id": t, "text": text, "image_ids": gold} for t, text, gold in TEXTS],
    )


def test_known_answers_both_directions(colours, tmp_path):
    result = evaluate_retrieval(ColourModel(), colours, "test", batch_size=5)
    assert result["num_texts"] == 10 and result["num_images"] == 12
    hits = {1: 5, 5: 7, 10: 9}  # from the ranks above
    assert result["text_to_image"] == {
        "r1": hits[1] * 1.0 / 10 * 100,
        "r5": hits[5] * 1.0 / 10 * 100,
        "r10": hits[10] * 1.0 / 10 * 100,
        "mean_recall": (0.5 + 0.7 + 0.9) / 3.0 * 100,
    }
    # Image->text, against a brute-force stable sort over the exact cosine matrix.
    image_vectors = np.array([IMAGES[i] for i in IMAGES], dtype=np.float32)
    text_vectors = np.array([[float(x) for x in text.split(",")] for _, text, _ in TEXTS], dtype=np.float32)
    image_vectors /= np.linalg.norm(image_vectors, axis=1, keepdims=True)
    text_vectors /= np.linalg.norm(text_vectors, axis=1, keepdims=True)
    scores = image_vectors @ text_vectors.T
    text_ids = [t for t, _, _ in TEXTS]
    predictions = {
        image_id: [text_ids[j] for j, _ in sorted(enumerate(row), key=lambda x: x[1], reverse=True)[:10]]
        for image_id, row in zip(IMAGES, scores.tolist(), strict=True)
    }
    expected = compute_recall(invert_gold({t: g for t, _, g in TEXTS}), predictions)
    assert result["image_to_text"] == expected.as_dict()


def test_output_files_in_chinese_clip_formats(colours, tmp_path, tiny_checkpoints):
    import zhclip

    model = zhclip.load(tiny_checkpoints["pt"], device="cpu")
    out = tmp_path / "eval"
    result = evaluate_retrieval(model, colours, "test", out_dir=out, name="tiny-random")
    files = output_files("test")
    assert sorted(p.name for p in out.iterdir()) == sorted([*files.values(), "retrieval_summary.json"])
    image_rows = [json.loads(x) for x in (out / files["image_features"]).read_text().splitlines()]
    assert [r["image_id"] for r in image_rows] == list(IMAGES)
    assert all(abs(np.linalg.norm(r["feature"]) - 1) < 1e-5 and len(r["feature"]) == 64 for r in image_rows)
    text_rows = [json.loads(x) for x in (out / files["text_features"]).read_text().splitlines()]
    assert [sorted(r) for r in text_rows[:1]] == [["feature", "text_id"]] and len(text_rows) == 10
    t2i = [json.loads(x) for x in (out / files["t2i_predictions"]).read_text().splitlines()]
    assert all(sorted(r) == ["image_ids", "text_id"] and len(set(r["image_ids"])) == 10 for r in t2i)
    i2t = [json.loads(x) for x in (out / files["i2t_predictions"]).read_text().splitlines()]
    assert len(i2t) == 12 and all(len(set(r["text_ids"])) == 10 for r in i2t)
    gold_tr = [json.loads(x) for x in (out / files["i2t_gold"]).read_text().splitlines()]
    assert gold_tr[0] == {"image_id": 4, "text_ids": [1]}
    metrics = json.loads((out / files["t2i_metrics"]).read_text())
    assert metrics["success"] is True and metrics["scoreJson"]["r1"] == result["text_to_image"]["r1"]
    summary = json.loads((out / "retrieval_summary.json").read_text())
    assert summary["model"] == "tiny-random" and summary["params"] == model.num_params
    assert summary["image_per_s"] > 0 and summary["dataset"] == "colours"


def test_dangling_ids_and_undecodable_images(colours):
    write_split(
        colours,
        "test",
        IMAGES,
        [{"text_id": t, "text": x, "image_ids": g} for t, x, g in TEXTS]
        + [{"text_id": 11, "text": "1,1,1", "image_ids": [404]}],
        extra_tsv_lines=["13\tAAAA"],
    )
    with pytest.raises(InputError, match=r"image id\(s\) \[404\]") as err:
        evaluate_retrieval(ColourModel(), colours)
    assert err.value.line == 11
    result = evaluate_retrieval(ColourModel(), colours, skip_bad=True)
    assert result["skipped"] == 2 and result["num_images"] == 12 and result["num_texts"] == 10
    assert result["text_to_image"]["r1"] == 50.0


def test_too_small_for_top10(tmp_path):
    root = write_split(
        tmp_path,
        "valid",
        {i: (i, 0, 0) for i in range(1, 6)},
        [{"text_id": i, "text": "1,0,0", "image_ids": [i]} for i in range(1, 6)],
    )
    with pytest.raises(InputError, match="needs at least 10"):
        evaluate_retrieval(ColourModel(), root, "valid")
