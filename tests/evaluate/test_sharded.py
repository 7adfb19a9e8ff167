"""Sharded feature extraction under torchrun (2 gloo processes on CPU): the same files as one process, byte for
byte, each rank encoding about half; a failing rank stops the others with its error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zhclip.evaluate.features import Shard
from zhclip.evaluate.retrieval import SUMMARY_FILE, output_files
from zhclip.evaluate.zeroshot import METRICS_FILE, PREDICTIONS_FILE
from zhclip.models import random_model, read_weights, save_cnclip
from zhclip.models.factory import build_network
from zhclip.models.tokenizer import Tokenizer
from zhclip.train.teacher_cache import build_cache, cache_path, load_cache, open_dataset

from ..train.conftest import write_toy_dataset

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "zhclip"]
ONE = [sys.executable, "-m", "zhclip"]
TIMINGS = ("image_features_s", "text_features_s", "topk_s", "image_per_s", "text_per_s")


def _run(launcher: list[str], *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads per process in both runs
    return subprocess.run([*launcher, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("count, batch, world", [(40, 8, 2), (41, 8, 2), (3, 8, 2), (17, 4, 3), (0, 4, 2)])
def test_shards_are_whole_batches_covering_everything_in_order(count, batch, world):
    items = list(range(count))
    parts = [Shard(rank, world).part(items, batch) for rank in range(world)]
    assert [i for part in parts for i in part] == items
    for part in parts[:-1]:
        assert len(part) % batch == 0  # every shard but the last starts and ends on a batch boundary
    assert Shard().part(items, batch) == items


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("shard"), {"valid": 40})


def test_torchrun_eval_retrieval_writes_the_single_process_files(toy, tiny_checkpoints, tmp_path):
    common = ["eval", "retrieval", "--model", tiny_checkpoints["pt"], "--data", toy, "--split", "valid"]
    common += ["--batch-size", "8", "--device", "cpu", "--name", "tiny"]
    one = _run(ONE, *common, "--out", tmp_path / "one")
    two = _run(TORCHRUN, *common, "--out", tmp_path / "two")
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("wrote ") == 1  # rank 0 alone reports (and writes)
    for name in output_files("valid").values():
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    single = json.loads((tmp_path / "one" / SUMMARY_FILE).read_text())
    sharded = json.loads((tmp_path / "two" / SUMMARY_FILE).read_text())
    assert single["world_size"] == 1 and single["per_rank"] == [{"rank": 0, "images": 40, "texts": 40}]
    assert sharded["world_size"] == 2
    assert sharded["per_rank"] == [{"rank": 0, "images": 16, "texts": 16}, {"rank": 1, "images": 24, "texts": 24}]
    for key in (*TIMINGS, "world_size", "per_rank"):
        single.pop(key), sharded.pop(key)
    assert single == sharded
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        [*output_files("valid").values(), SUMMARY_FILE]
    )


def test_a_failing_rank_stops_the_others_with_its_error(toy, tiny_checkpoints, tmp_path):
    """The last image (rank 1's share) does not decode: both ranks exit with its error, none waits; with
    --skip-bad both runs skip it and agree."""
    broken = tmp_path / "broken"
    broken.mkdir()
    lines = (toy / "valid_imgs.tsv").read_text().splitlines()
    lines[-1] = lines[-1].split("\t")[0] + "\tbm90IGFuIGltYWdl"  # base64 of "not an image"
    (broken / "valid_imgs.tsv").write_text("\n".join(lines) + "\n")
    (broken / "valid_texts.jsonl").write_text((toy / "valid_texts.jsonl").read_text(encoding="utf-8"), "utf-8")
    common = ["eval", "retrieval", "--model", tiny_checkpoints["pt"], "--data", broken, "--split", "valid"]
    common += ["--batch-size", "8", "--device", "cpu"]
    failed = _run(TORCHRUN, *common, "--out", tmp_path / "fail")
    assert failed.returncode != 0
    assert failed.stderr.count("zhclip eval: error:") == 2  # rank 1's own error, and rank 0 stopping with it
    assert failed.stderr.count("valid_imgs.tsv:40: image does not decode") == 2
    assert not (tmp_path / "fail").exists()
    one = _run(ONE, *common, "--skip-bad", "--out", tmp_path / "one")
    two = _run(TORCHRUN, *common, "--skip-bad", "--out", tmp_path / "two")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    for name in output_files("valid").values():
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    summary = json.loads((tmp_path / "two" / SUMMARY_FILE).read_text())
    assert summary["skipped"] >= 1 and summary["per_rank"][1]["images"] == 23


def test_torchrun_eval_zeroshot_writes_the_single_process_files(tiny_checkpoints, tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "folder"
    for label in range(3):
        (data / "test" / str(label)).mkdir(parents=True)
        for n in range(7):
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(data / "test" / str(label) / f"{n}.png")
    (data / "label_cn.txt").write_text("猫\n狗\n鸟\n", encoding="utf-8")
    common = ["eval", "zeroshot", "--model", tiny_checkpoints["pt"], "--data", data, "--labels", data / "label_cn.txt"]
    common += ["--batch-size", "4", "--device", "cpu", "--name", "tiny"]
    one = _run(ONE, *common, "--out", tmp_path / "one")
    two = _run(TORCHRUN, *common, "--out", tmp_path / "two")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    for name in (METRICS_FILE, PREDICTIONS_FILE):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert json.loads((tmp_path / "two" / METRICS_FILE).read_text())["num_images"] == 21


def test_torchrun_teacher_cache_equals_one_process(tmp_path):
    """Each rank embeds half of the teacher cache, rank 0 writes the one file: the single-process cache."""
    data = write_toy_dataset(tmp_path / "data", {"train": 40})
    teacher = tmp_path / "teacher.pt"
    network = random_model("tiny", seed=5)
    save_cnclip(network.state_dict(), network.config, teacher)
    done = _run(
        TORCHRUN,
        *["distill", "--teacher", teacher, "--arch", "tiny", "--data", data, "--out", tmp_path / "run"],
        *["--teacher-cache", "--batch-size", "8", "--max-steps", "1", "--val-every", "0", "--no-progress", "--no-hf"],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("teacher cache: 40 images, 40 texts") == 1  # written once, by rank 0
    tokenizer, network = Tokenizer(), build_network(read_weights(teacher)).eval()
    path = cache_path(data, "train", network, tokenizer.context_length)
    assert list(path.parent.iterdir()) == [path]
    reference = tmp_path / "reference.pt"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the torchrun processes, so the floats are the same
    try:
        build_cache(
            network, open_dataset(data, "train", 64, tokenizer, False), tokenizer, reference, torch.device("cpu")
        )
    finally:
        torch.set_num_threads(threads)
    sharded, single = torch.load(path), torch.load(reference)
    assert sharded.keys() == single.keys() and sharded["scale"] == single["scale"]
    for key in ("image_ids", "text_ids", "image", "text"):
        assert torch.equal(sharded[key], single[key]), key
    images, texts, _ = load_cache(path, torch.device("cpu"))
    assert len(images.ids) == len(texts.ids) == 40


def test_torchrun_encode_split_writes_the_single_process_feature_files(toy, tiny_checkpoints, tmp_path):
    common = ["encode", "--model", tiny_checkpoints["pt"], "--data", toy, "--split", "valid", "--batch-size", "8"]
    common += ["--device", "cpu"]
    one = _run(ONE, *common, "--out", tmp_path / "one")
    two = _run(TORCHRUN, *common, "--out", tmp_path / "two")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    counts = json.loads(two.stdout)
    assert counts["world_size"] == 2 and [r["images"] for r in counts["per_rank"]] == [16, 24]
    files = output_files("valid")
    for key in ("image_features", "text_features"):
        assert (tmp_path / "two" / files[key]).read_bytes() == (tmp_path / "one" / files[key]).read_bytes()
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        [files["image_features"], files["text_features"]]
    )
