"""`zhclip bench encode --quick`: every requested path in the table, ratios against the same-run baseline."""

from __future__ import annotations

import json

from tests.conftest import run_cli


def test_bench_quick_runs_and_reports_ratios(tmp_path, tiny_checkpoints, tiny_onnx):
    out = tmp_path / "bench.json"
    result = run_cli(
        "bench",
        "encode",
        "--model",
        tiny_checkpoints["pt"],
        "--onnx",
        tiny_onnx,
        "--quick",
        "--precision",
        "onnx-int8",
        "--json",
        out,
    )
    assert result.returncode == 0, result.stderr
    assert "bench encode: 100%" in result.stderr and "2/2" in result.stderr  # progress: one step per path
    rows = {row["path"]: row for row in json.loads(out.read_text())["rows"]}
    assert list(rows) == ["baseline torch fp32", "onnx int8"]
    base = rows["baseline torch fp32"]
    assert base["image_b32_per_s_x"] == 1.0 and base["fidelity"] > 0.9999
    for row in rows.values():
        assert row["image_b1_per_s"] > 0 and row["query_p50_ms"] > 0 and row["peak_mb"] > 0
        assert row["fidelity"] >= 0.99
    # int8 GEMM weights are a quarter of fp32; this tiny model's fp32 token embeddings and norms add ~5 % of fp32
    # (the files measured 0.2994-0.3000 of the checkpoint on different machines).
    assert rows["onnx int8"]["size_mb"] < 0.35 * base["size_mb"]
    assert "| onnx int8 |" in result.stdout and "(1.00x)" in result.stdout
    roofline = {row["path"]: row for row in json.loads(out.read_text())["roofline"]["rows"]}
    assert list(roofline) == list(rows) and roofline["onnx int8"]["precision"] == "int8"
    for row in roofline.values():
        assert row["limit_per_s"] > 0 and row["of_limit"] > 0 and row["kernel"]
    assert result.stdout.startswith("machine: ") and "GEMM-bound limit" in result.stdout


def test_bench_rejects_unknown_path(tiny_checkpoints):
    result = run_cli("bench", "encode", "--model", tiny_checkpoints["pt"], "--precision", "fp64", "--quick")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'torch-fp64'" in result.stderr and "onnx-int8" in result.stderr


def test_bench_measures_transformers_openvino_and_the_auto_plan(tmp_path, tiny_checkpoints):
    out = tmp_path / "bench.json"
    paths = "transformers-fp32,openvino-fp32,auto"
    model = tiny_checkpoints["pt"]
    result = run_cli("bench", "encode", "--model", model, "--quick", "--precision", paths, "--json", out)
    assert result.returncode == 0, result.stderr
    rows = {row["path"]: row for row in json.loads(out.read_text())["rows"]}
    # the tests narrow auto to PyTorch (ZHCLIP_RUNTIMES=torch), so its plan is a torch path on both towers
    (auto,) = [name for name in rows if name.startswith("auto (image torch-")]
    assert list(rows) == ["baseline torch fp32", "transformers fp32", "openvino fp32", auto]
    # the same weights through transformers' ChineseCLIPModel and through OpenVINO give the same embeddings
    assert rows["transformers fp32"]["fidelity"] > 0.9999 and rows["openvino fp32"]["fidelity"] > 0.9999
    roofline = {row["path"]: row for row in json.loads(out.read_text())["roofline"]["rows"]}
    assert roofline["transformers fp32"]["precision"] == "fp32"
    assert roofline[auto]["precision"] in ("fp32", "bf16", "int8")
    assert f"| {auto} |" in result.stdout
