"""Recall and prediction validation exactly as Chinese-CLIP's evaluation.py / evaluation_tr.py."""

from __future__ import annotations

import json

import pytest

from zhclip.cli import main
from zhclip.errors import InputError
from zhclip.evaluate.recall import (
    IMAGE_TO_TEXT,
    TEXT_TO_IMAGE,
    compute_recall,
    invert_gold,
    read_predictions,
    score_files,
)

from ..conftest import run_cli

TOP = list(range(100, 110))  # a valid top-10: ids 100..109 in this order


def test_known_answer_with_multi_gold():
    gold = {1: [100], 2: [104, 200], 3: [200, 109], 4: [300], 5: [105, 101]}
    predictions = {q: TOP for q in gold}
    # hits@1: q1; @5: q1, q2 (104 at rank 5), q5 (101 at rank 2); @10: + q3 (109 at rank 10). q4 never.
    recall = compute_recall(gold, predictions)
    assert (recall.r1, recall.r5, recall.r10) == (20.0, 60.0, 80.0)
    assert recall.mean_recall == (0.2 + 0.6 + 0.8) / 3.0 * 100  # same arithmetic, same float
    assert recall.score_json() == {
        "success": True,
        "score": recall.mean_recall,
        "scoreJson": {
            "score": recall.mean_recall,
            "mean_recall": recall.mean_recall,
            "r1": 20.0,
            "r5": 60.0,
            "r10": 80.0,
        },
    }


def test_invert_gold_keeps_first_seen_order():
    assert invert_gold({7: [1, 2], 8: [2], 9: [3, 1]}) == {1: [7, 9], 2: [7, 8], 3: [9]}


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"text_id": 1, "image_ids": TOP[:9]}, "has 9 predicted image_ids, need 10"),
        ({"text_id": 1, "image_ids": TOP[:9] + [100]}, "duplicate ids"),
        ({"text_id": 1, "image_ids": TOP[:9] + ["109"]}, "non-integer id '109' at rank 10"),
        ({"text_id": "1", "image_ids": TOP}, "must be an integer (not string)"),
        ({"text": 1, "image_ids": TOP}, "a line without text_id"),
        ({"text_id": 1, "image_ids": "100"}, "missing or not a list"),
    ],
)
def test_validation_errors_name_the_line(tmp_path, row, reason):
    path = tmp_path / "pred.jsonl"
    path.write_text(json.dumps({"text_id": 2, "image_ids": TOP}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(InputError) as err:
        read_predictions(path, {1: [100], 2: [100]}, TEXT_TO_IMAGE)
    assert reason in err.value.reason and err.value.line == 2


def test_every_gold_query_needs_a_prediction_extra_ones_are_ignored(tmp_path):
    path = tmp_path / "pred.jsonl"
    path.write_text("".join(json.dumps({"image_id": q, "text_ids": TOP}) + "\n" for q in (1, 3, 99)))
    with pytest.raises(InputError, match=r"1 image_id\(s\) with gold have no prediction: 2"):
        read_predictions(path, {1: [100], 2: [100], 3: [100]}, IMAGE_TO_TEXT)
    assert set(read_predictions(path, {1: [100], 3: [100]}, IMAGE_TO_TEXT)) == {1, 3, 99}


def test_score_files_and_cli_error_json(tmp_path, capsys):
    gold = tmp_path / "test_texts.jsonl"
    gold.write_text(
        '{"text_id": 1, "text": "甲", "image_ids": [101]}\n{"text_id": 2, "text": "乙", "image_ids": [7]}\n',
        encoding="utf-8",
    )
    predictions = tmp_path / "test_predictions.jsonl"
    predictions.write_text("".join(json.dumps({"text_id": q, "image_ids": TOP}) + "\n" for q in (1, 2)))
    assert score_files(gold, predictions, TEXT_TO_IMAGE).r5 == 50.0

    assert main(["eval", "score", str(gold), str(predictions), str(tmp_path / "ok.json")]) == 0
    assert "R@1 0.00  R@5 50.00  R@10 50.00" in capsys.readouterr().out
    assert json.loads((tmp_path / "ok.json").read_text())["scoreJson"]["r10"] == 50.0

    predictions.write_text(json.dumps({"text_id": 1, "image_ids": TOP}) + "\nnot json\n")
    failed = run_cli("eval", "score", gold, predictions, tmp_path / "bad.json")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr and f"{predictions}:2" in failed.stderr
    written = json.loads((tmp_path / "bad.json").read_text())
    assert written["success"] is False and written["score"] == 0 and written["scoreJson"] == {}
    assert "not a JSON line" in written["errorMsg"] and written["errorDetail"] == written["errorMsg"]
