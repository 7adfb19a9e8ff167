"""Zero-shot classification, the comparison report, and the whole CLI pipeline on a tiny model and synth data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from zhclip.cli import main
from zhclip.errors import InputError
from zhclip.evaluate.report import write_report
from zhclip.evaluate.zeroshot import TEMPLATE_SETS, classifier, evaluate_zeroshot, load_templates

from ..conftest import run_cli
from .test_retrieval import ColourModel


class NamedColourModel(ColourModel):
    """Texts are class prompts: the colour is looked up by name inside the prompt."""

    NAMES = {"红": (1.0, 0.0, 0.0), "绿": (0.0, 1.0, 0.0), "蓝": (0.0, 0.0, 1.0)}

    def tokenizer(self, texts):
        return torch.tensor([next(v for k, v in self.NAMES.items() if k in t) for t in texts])


@pytest.fixture
def folder(tmp_path):
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]
    for index, colour in enumerate(colours):
        (tmp_path / "test" / f"{index:03d}").mkdir(parents=True)
        for n in range(2):
            Image.new("RGB", (8, 8), colour).save(tmp_path / "test" / f"{index:03d}" / f"{n}.png")
    Image.new("RGB", (8, 8), colours[2]).save(tmp_path / "test/000/wrong.png")  # a blue image labelled red
    (tmp_path / "label_cn.txt").write_text("红色\n绿色\n蓝色\n", encoding="utf-8")
    return tmp_path


def test_zeroshot_known_answer(folder):
    result = evaluate_zeroshot(NamedColourModel(), folder, folder / "label_cn.txt")
    assert result["top1"] == pytest.approx(6 / 7 * 100) and result["top5"] == 100.0
    assert (result["num_images"], result["num_classes"], result["num_templates"]) == (7, 3, 10)


def test_templates_default_override_and_errors(folder):
    assert load_templates(None, folder) == list(TEMPLATE_SETS["default"])
    (folder / "templates.txt").write_text("{}。\n一张{}的图片。\n", encoding="utf-8")
    assert load_templates(None, folder) == ["{}。", "一张{}的图片。"]  # per-dataset override
    assert load_templates("default", folder) == list(TEMPLATE_SETS["default"])
    (folder / "bad.txt").write_text("没有占位符\n", encoding="utf-8")
    with pytest.raises(InputError, match="exactly one") as err:
        load_templates(str(folder / "bad.txt"), folder)
    assert err.value.line == 1


def test_classifier_is_mean_of_normalised_prompt_embeddings():
    class Scaled(ColourModel):
        def tokenizer(self, texts):
            return torch.tensor([[1.0, 0.0, 0.0] if "甲" in t else [0.0, 3.0, 0.0] for t in texts])

    weights = classifier(Scaled(), ["x"], ["甲{}", "乙{}"])
    np.testing.assert_allclose(weights, [[2**-0.5, 2**-0.5, 0.0]], rtol=1e-6)  # not pulled toward 3x


def test_report_reads_every_number_from_metrics_files(tmp_path):
    for name, r1 in (("small", 31.5), ("tiny", 12.25)):
        run = tmp_path / "experiments" / name
        run.mkdir(parents=True)
        for direction, value in (("t2i", r1), ("i2t", r1 + 1)):
            (run / f"test_{direction}_metrics.json").write_text(
                json.dumps(
                    {
                        "success": True,
                        "score": 50.0,
                        "scoreJson": {"score": 50.0, "mean_recall": 50.0, "r1": value, "r5": 60.0, "r10": 70.0},
                    }
                )
            )
        (run / "retrieval_summary.json").write_text(
            json.dumps(
                {
                    "model": name,
                    "params": 1_610_881,
                    "size_mb": 6.15,
                    "image_per_s": 200.0,
                    "text_per_s": 300.0,
                    "dataset": "synth",
                    "split": "test",
                    "files": {"t2i_metrics": "test_t2i_metrics.json", "i2t_metrics": "test_i2t_metrics.json"},
                }
            )
        )
    written = write_report([tmp_path / "experiments"], tmp_path / "report.md")
    header, small, tiny = written.table
    assert header[:6] == ["Model", "Params (M)", "Size (MB)", "Images/s", "Texts/s", "synth/test T→I R@1"]
    assert small[:6] == ["small", "1.61", "6.2", "200.0", "300.0", "31.50"] and tiny[5] == "12.25"
    assert tiny[header.index("synth/test I→T R@1")] == "13.25"
    text = written.markdown.read_text(encoding="utf-8")
    assert "| tiny | 1.61 |" in text and "![recall chart](report.png)" in text
    assert written.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    (tmp_path / "experiments/tiny/test_t2i_metrics.json").write_text(
        json.dumps({"success": False, "errorMsg": "bad predictions"})
    )
    with pytest.raises(InputError, match="evaluation failed: bad predictions"):
        write_report([tmp_path / "experiments"], tmp_path / "report.md")


def test_cli_synth_eval_report_end_to_end(tmp_path, tiny_checkpoints, capsys):
    """synth and zero-shot run in-process; eval retrieval and report run as a user runs them."""
    data, runs = tmp_path / "synth", tmp_path / "experiments"
    assert (
        main(
            [
                "data",
                "synth",
                str(data),
                "--train",
                "10",
                "--valid",
                "0",
                "--test",
                "40",
                "--seed",
                "3",
                "--image-size",
                "64",
                "--zeroshot-per-class",
                "2",
            ]
        )
        == 0
    )
    assert re.search(r"test: 40 images \(\d+ binding twins\), \d+ texts", capsys.readouterr().out)

    evaluated = run_cli(
        "eval",
        "retrieval",
        "--model",
        tiny_checkpoints["pt"],
        "--data",
        data,
        "--split",
        "test",
        "--out",
        runs / "tiny/synth_test",
        "--name",
        "tiny",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "text_to_image  R@1" in evaluated.stdout and "it/s" not in evaluated.stdout  # bars go to stderr
    summary = json.loads((runs / "tiny/synth_test/retrieval_summary.json").read_text())
    t2i = json.loads((runs / "tiny/synth_test/test_t2i_metrics.json").read_text())["scoreJson"]

    assert (
        main(
            [
                "eval",
                "zeroshot",
                "--model",
                str(tiny_checkpoints["hf"]),
                "--data",
                str(data / "zeroshot"),
                "--labels",
                str(data / "zeroshot/label_cn.txt"),
                "--out",
                str(runs / "tiny-hf/zeroshot"),
                "--name",
                "tiny-hf",
            ]
        )
        == 0
    )
    assert "14 images, 7 classes, 5 templates" in capsys.readouterr().out  # the dataset's own templates.txt

    report = run_cli("report", runs, "--out", tmp_path / "report.md")
    assert report.returncode == 0, report.stderr
    row = next(line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| tiny |"))
    assert f"| {t2i['r1']:.2f} | {t2i['r5']:.2f} | {t2i['r10']:.2f} | {t2i['mean_recall']:.2f} |" in row
    assert f"{summary['params'] / 1e6:.2f}" in row
    top1 = json.loads((runs / "tiny-hf/zeroshot/zeroshot_metrics.json").read_text())["top1"]
    lines = (tmp_path / "report.md").read_text().splitlines()
    assert "synth/zeroshot top-1" in next(line for line in lines if line.startswith("| Model |"))
    assert f"| {top1:.2f} |" in next(line for line in lines if line.startswith("| tiny-hf |"))
    assert (tmp_path / "report.png").is_file()

    assert (
        main(
            [
                "eval",
                "retrieval",
                "--model",
                str(tiny_checkpoints["pt"]),
                "--data",
                str(tmp_path / "nowhere"),
                "--out",
                str(tmp_path / "never"),
            ]
        )
        == 2
    )
    assert "nowhere: no images for split 'test'" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
