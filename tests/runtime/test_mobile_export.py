"""`zhclip export executorch|mnn|coreml`: the reference programs under examples/ (no zhclip import) encode held-out
images and texts from an export's manifest alone and agree with zhclip's fp32 PyTorch; Core ML exports are
converted and checked, not run (prediction needs macOS); bad requests and broken exports fail clearly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from zhclip.cli import main
from zhclip.data.synth import render_scene, sample_scene
from zhclip.errors import UnsupportedError
from zhclip.models import random_model, save_cnclip
from zhclip.runtime.export import ExportOptions, export_mobile, mobile
from zhclip.runtime.export.base import MAX_BATCH
from zhclip.search.demo import DEMO_MODEL

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELD_OUT_TEXTS = ["一只小狗在草地上奔跑", "红色的三角形在蓝色圆形的右边", "夜晚的城市街道", "一杯咖啡和一本书"]
BARS = {"fp32": 0.999, "fp16": 0.999, "int8": 0.99}
slow = pytest.mark.slow

pytestmark = pytest.mark.skipif(not DEMO_MODEL.is_file(), reason="needs the demo model (src/zhclip/assets)")


@pytest.fixture(scope="module")
def held_out_images(tmp_path_factory) -> list[Path]:
    """Synthetic scenes the export never measured (other seeds, other sizes), as files an app would open."""
    folder = tmp_path_factory.mktemp("held_out")
    rng = np.random.default_rng(7)
    paths = []
    for i, size in enumerate(((320, 240), (200, 300), (96, 96))):
        paths.append(folder / f"scene{i}.png")
        render_scene(sample_scene(rng), size=size).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """`zhclip export TARGET MODEL OUT --precision P`, once per (model, target, precision) in this module."""
    root, done = tmp_path_factory.mktemp("mobile"), {}

    def export(target: str, precision: str, model: Path = DEMO_MODEL, *flags: str) -> Path:
        key = (str(model), target, precision, flags)
        if key not in done:
            out = root / f"{Path(model).stem}_{target}_{precision}"
            assert main(["export", target, str(model), str(out), "--precision", precision, *flags]) == 0
            done[key] = out
        return done[key]

    return export


def encode_with_example(program: str, export_dir: Path, images: list[Path], texts: list[str]) -> dict:
    args = [sys.executable, str(EXAMPLES / program), str(export_dir)]
    args += [a for image in images for a in ("--image", str(image))] + [a for text in texts for a in ("--text", text)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=export_dir.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # MNN prints a CPU line to stdout before


def assert_matches_fp32(model: Path, encoded: dict, images: list[Path], texts: list[str], bar: float) -> None:
    import zhclip

    reference = zhclip.load(str(model), precision="fp32", runtime="torch")
    got_images = np.array([encoded["images"][str(p)] for p in images])
    got_texts = np.array([encoded["texts"][t] for t in texts])
    image_cosines = (got_images * reference.encode_images(images)).sum(1)
    text_cosines = (got_texts * reference.encode_texts(texts)).sum(1)
    assert image_cosines.min() >= bar, image_cosines
    assert text_cosines.min() >= bar, text_cosines


def check_manifest(export_dir: Path, target: str, precision: str) -> dict:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["runtime"]["name"] == target and manifest["precision"] == precision
    assert (export_dir / manifest["tokenizer"]["vocab"]).is_file() and manifest["tokenizer"]["pad_id"] == 0
    assert manifest["output"]["l2_normalised"] is False and len(manifest["source"]["weights_sha256"]) == 64
    for entry in manifest["towers"].values():
        assert (export_dir / entry["file"]).exists()
        fidelity = entry["fidelity"]
        if fidelity["cosine_to_fp32"] is not None:
            assert fidelity["passed"] and fidelity["cosine_to_fp32"] >= BARS[precision]
    return manifest


@pytest.mark.parametrize("precision", ["int8", pytest.param("fp32", marks=slow), pytest.param("fp16", marks=slow)])
def test_mnn_reference_program_matches_fp32(exports, held_out_images, precision):
    out = exports("mnn", precision)
    manifest = check_manifest(out, "mnn", precision)
    assert manifest["towers"]["text"]["inputs"][0] == {"name": "ids", "shape": [None, 52], "dtype": "int32"}
    encoded = encode_with_example("mnn_encode.py", out, held_out_images, HELD_OUT_TEXTS)
    assert_matches_fp32(DEMO_MODEL, encoded, held_out_images, HELD_OUT_TEXTS, BARS[precision])


@pytest.mark.parametrize("precision", ["fp32", pytest.param("fp16", marks=slow), pytest.param("int8", marks=slow)])
def test_executorch_reference_program_matches_fp32(exports, held_out_images, precision):
    """The image tower's batch is fixed (2 here), so three images run as two batches, the last one filled up."""
    out = exports("executorch", precision, DEMO_MODEL, "--batch", "2")
    manifest = check_manifest(out, "executorch", precision)
    assert manifest["towers"]["image"]["batch"] == {"dynamic": False, "size": 2}
    assert manifest["towers"]["text"]["batch"] == {"dynamic": True, "max": MAX_BATCH}
    encoded = encode_with_example("executorch_encode.py", out, held_out_images, HELD_OUT_TEXTS)
    assert_matches_fp32(DEMO_MODEL, encoded, held_out_images, HELD_OUT_TEXTS, BARS[precision])


@slow
@pytest.mark.parametrize("target, precision", [("executorch", "int8"), ("mnn", "fp16")])
def test_random_vit_b16_exports_match_fp32(exports, held_out_images, tmp_path_factory, target, precision):
    network = random_model("ViT-B-16", seed=3)
    model = tmp_path_factory.mktemp("vitb16") / "vit-b-16.pt"
    save_cnclip(network.state_dict(), network.config, model)
    out = exports(target, precision, model)
    check_manifest(out, target, precision)
    encoded = encode_with_example(f"{target}_encode.py", out, held_out_images, HELD_OUT_TEXTS)
    assert_matches_fp32(model, encoded, held_out_images, HELD_OUT_TEXTS, BARS[precision])


def test_coreml_export_is_converted_and_checked_not_run(exports):
    out = exports("coreml", "fp32", DEMO_MODEL, "--towers", "image")
    manifest = check_manifest(out, "coreml", "fp32")
    assert list(manifest["towers"]) == ["image"]
    image = manifest["towers"]["image"]
    assert image["fidelity"]["cosine_to_fp32"] is None and "macOS" in image["fidelity"]["not_run"]
    assert image["inputs"][0] == {"name": "pixels", "shape": [None, 3, 64, 64], "dtype": "float32"}
    assert (out / image["file"] / "Manifest.json").is_file()  # an .mlpackage directory


def test_manifest_that_does_not_match_its_files_is_caught(exports, held_out_images, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(exports("mnn", "int8"), broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    image_file = broken / manifest["towers"]["image"]["file"]
    image_file.write_bytes(image_file.read_bytes()[:1000])
    args = [sys.executable, str(EXAMPLES / "mnn_encode.py"), str(broken), "--text", "猫"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "does not match the manifest's sha256" in done.stderr, done.stderr
    image_file.unlink()
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"{image_file.name} is missing" in done.stderr, done.stderr
    manifest["towers"]["text"].pop("batch")
    (broken / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "field 'towers.text.batch' is missing" in done.stderr, done.stderr


def test_export_below_the_bar_is_refused_unless_forced(tmp_path, monkeypatch, cli):
    monkeypatch.setitem(mobile.BARS, "int8", 1.000001)  # no int8 tower reaches it
    out = tmp_path / "refused"
    result = cli("export", "mnn", DEMO_MODEL, out, "--precision", "int8", "--towers", "image")
    assert result.returncode != 0 and "below the bar 1.000001" in result.stderr and "--force" in result.stderr
    assert not out.exists() and not list(tmp_path.iterdir())  # no half-written or temporary directory
    result = cli("export", "mnn", DEMO_MODEL, out, "--precision", "int8", "--towers", "image", "--force")
    assert result.returncode == 0, result.stderr
    fidelity = json.loads((out / "manifest.json").read_text())["towers"]["image"]["fidelity"]
    assert fidelity["forced"] is True and fidelity["passed"] is False


def test_failed_conversion_leaves_no_directory(tmp_path, monkeypatch):
    def half_written(network, spec, precision, path):
        path.write_bytes(b"partial")
        raise UnsupportedError("converter crashed")

    monkeypatch.setitem(mobile.TARGETS, "mnn", replace(mobile.TARGETS["mnn"], convert=half_written))
    with pytest.raises(UnsupportedError, match="converter crashed"):
        export_mobile("mnn", DEMO_MODEL, tmp_path / "out", ExportOptions(towers=("image",)))
    assert not list(tmp_path.iterdir())


def test_requests_a_runtime_cannot_take_name_what_it_can(tmp_path, cli):
    with pytest.raises(UnsupportedError, match="mnn exports take precision fp32, fp16, int8, not 'int4'"):
        export_mobile("mnn", DEMO_MODEL, tmp_path / "out", ExportOptions(precision="int4"))
    network = random_model("tiny")
    small = replace(mobile.TARGETS["mnn"], max_tower_bytes=1000.0)
    with pytest.raises(UnsupportedError, match="at most 0.0 GB .* ViT-B-16, ViT-L-14, ViT-L-14-336 and smaller fit"):
        mobile.check_size(small, network, ("image",))
    result = cli("export", "coreml", DEMO_MODEL, tmp_path / "out", "--towers", "image,audio")
    assert result.returncode != 0 and "unknown tower 'audio'; use image, text" in result.stderr


def test_missing_converter_names_its_extra(tmp_path, monkeypatch, cli):
    monkeypatch.setitem(sys.modules, "MNN", None)  # import MNN now raises ImportError
    result = cli("export", "mnn", DEMO_MODEL, tmp_path / "out")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "zhclip export: error: zhclip export mnn needs the optional package 'MNN', which is not installed: "
        "pip install 'zhclip[mnn]'"
    ]
    assert not (tmp_path / "out").exists()
