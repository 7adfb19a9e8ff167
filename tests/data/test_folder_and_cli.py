"""`zhclip data from-folder | lmdb | synth` as a user runs them: outputs, messages, exit codes."""

from __future__ import annotations

import pytest
from PIL import Image

from zhclip.cli import main
from zhclip.data import BadRecords, read_texts
from zhclip.data.folder import from_folder
from zhclip.data.images import TsvImages
from zhclip.errors import InputError

from ..conftest import run_cli


def _photos(folder, count=10):
    folder.mkdir()
    for i in range(count):
        Image.new("RGB", (40, 30), (25 * i, 100, 200)).save(folder / f"p{i}.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")


def test_from_folder_splits_merges_and_reports_bad_rows(tmp_path):
    _photos(tmp_path / "photos")
    rows = (
        ["image,caption"]
        + [f"p{i}.png,第{i}张照片" for i in range(10)]
        + ["p0.png,蓝色的照片", "p1.png,蓝色的照片", "missing.png,没有这张", "broken.jpg,坏图"]
    )
    (tmp_path / "captions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    without_missing = tmp_path / "no_missing.csv"
    without_missing.write_text("\n".join(r for r in rows if "missing" not in r) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="broken.jpg: cannot decode"):
        from_folder(tmp_path / "photos", without_missing, tmp_path / "out", (0.6, 0.2, 0.2), seed=1)
    assert list((tmp_path / "out").iterdir()) == []  # splits written before the failure were not kept
    bad = BadRecords(skip=True)
    stats = from_folder(
        tmp_path / "photos", tmp_path / "captions.csv", tmp_path / "out", (0.6, 0.2, 0.2), seed=1, bad=bad
    )
    assert [s.split for s in stats] == ["train", "valid", "test"]
    assert sum(s.images for s in stats) == 10  # 11 files, broken.jpg left out
    assert bad.errors[0].line == 14 and "missing.png" in bad.errors[0].reason
    assert bad.errors[1].path.endswith("broken.jpg") and "cannot decode" in bad.errors[1].reason
    texts = [r for split in ("train", "valid", "test") for r in read_texts(tmp_path / "out" / f"{split}_texts.jsonl")]
    assert sum(len(r.image_ids) for r in texts) == 12  # 10 images x 1 caption + 蓝色的照片 on two images
    ids = {
        line.split("\t")[1]: int(line.split("\t")[0])
        for line in (tmp_path / "out/image_paths.tsv").read_text().splitlines()
    }
    train = TsvImages(tmp_path / "out/train_imgs.tsv")
    some = int(train.ids[0])
    path = next(p for p, i in ids.items() if i == some)
    assert train.load(some).tobytes() == Image.open(tmp_path / "photos" / path).convert("RGB").tobytes()


def test_cli_bad_data_fails_with_file_and_line_then_skip_bad_counts(tmp_path, capsys):
    _photos(tmp_path / "photos", 3)
    (tmp_path / "c.jsonl").write_text(
        '{"image": "p0.png", "captions": ["一", "二"]}\n{"image": "p1.png"}\n{"image": "p2.png", "caption": "三"}\n',
        encoding="utf-8",
    )
    failed = run_cli("data", "from-folder", tmp_path / "photos", tmp_path / "c.jsonl", tmp_path / "out")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert f"{tmp_path / 'c.jsonl'}:2" in failed.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*_texts.jsonl"))

    # In-process from here on (same entry point, no second torch import).
    assert (
        main(
            [
                "data",
                "from-folder",
                str(tmp_path / "photos"),
                str(tmp_path / "c.jsonl"),
                str(tmp_path / "out"),
                "--split-ratio",
                "1,0,0",
                "--skip-bad",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "train: 2 images, 3 texts" in printed and "skipped 1 bad record" in printed
    assert main(["data", "lmdb", str(tmp_path / "out"), "--splits", "train"]) == 0
    assert "train: 2 images, 3 pairs" in capsys.readouterr().out
    assert (tmp_path / "out/lmdb/train/imgs/data.mdb").is_file()


def test_cli_synth_rejects_bad_knobs(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "s"), "--train", "-1"]) == 2
    assert "(field '--train'): must be >= 0, got -1" in capsys.readouterr().err
