"""zhclip.io: every writer is atomic — a writer that raises leaves the old file (or none) and no temp file."""

from __future__ import annotations

import json

import pytest
import torch

from zhclip.errors import InputError
from zhclip.io import atomic_path, copy_file, staged_directory, write_json, write_jsonl, write_text
from zhclip.models import random_model, save_cnclip
from zhclip.train.logs import RunFiles


def test_writes_are_atomic(tmp_path):
    out = tmp_path / "rows.jsonl"
    write_jsonl(out, [{"a": 1}])

    def failing_rows():
        yield {"a": 2}
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_jsonl(out, failing_rows())
    assert [json.loads(x) for x in out.read_text().splitlines()] == [{"a": 1}]  # old content intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]  # no temp file left


def test_a_writer_that_raises_leaves_no_partial_file(tmp_path):
    out = tmp_path / "new.bin"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_bytes(b"half of it")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == [], "neither the file nor its temporary exists"

    folder = tmp_path / "export"
    with pytest.raises(RuntimeError), atomic_path(folder, directory=True) as tmp:
        (tmp / "model.onnx").write_bytes(b"partial")
        raise RuntimeError("killed mid-export")
    assert list(tmp_path.iterdir()) == []


def test_text_json_and_copies_replace_their_target_whole(tmp_path):
    write_text(tmp_path / "a.txt", "旧的")
    write_text(tmp_path / "a.txt", "新的\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "新的\n"
    write_json(tmp_path / "s.json", {"模型": 1})
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8")) == {"模型": 1}
    with pytest.raises(TypeError):
        write_json(tmp_path / "s.json", {"x": object()})
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8")) == {"模型": 1}
    copy_file(tmp_path / "a.txt", tmp_path / "b.txt")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "新的\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "s.json"]
    with pytest.raises(InputError, match="output folder does not exist"):
        write_text(tmp_path / "nope" / "x.txt", "")


def test_staged_directory_keeps_the_old_files_on_failure(tmp_path):
    out = tmp_path / "split"
    with staged_directory(out) as staging:
        (staging / "train.tsv").write_text("1\n")
    with pytest.raises(RuntimeError), staged_directory(out) as staging:
        (staging / "train.tsv").write_text("2\n")
        raise RuntimeError("interrupted")
    assert [p.name for p in out.iterdir()] == ["train.tsv"] and (out / "train.tsv").read_text() == "1\n"


def test_checkpoints_and_run_summaries_are_written_atomically(tmp_path, monkeypatch):
    network = random_model("tiny", seed=0)
    out = save_cnclip(network.state_dict(), network.config, tmp_path / "epoch_1.pt")
    before = out.read_bytes()

    def save_half(obj, path):
        path.write_bytes(b"PK half a zip")
        raise OSError("no space left on device")

    monkeypatch.setattr(torch, "save", save_half)
    with pytest.raises(OSError):
        save_cnclip(network.state_dict(), network.config, out)
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["epoch_1.pt"]

    files = RunFiles(tmp_path / "run", enabled=True)
    files.out.mkdir()
    files.write_summary({"final_loss": 1.5})
    with pytest.raises(TypeError):
        files.write_summary({"final_loss": object()})
    assert json.loads(files.summary.read_text(encoding="utf-8")) == {"final_loss": 1.5}
    assert [p.name for p in files.out.iterdir()] == ["summary.json"]
