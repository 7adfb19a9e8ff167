"""What a user runs after `pip install zhclip`: every main job of the default install, as `zhclip` command lines,
run with a given interpreter (a fresh virtualenv's, or this one with the optional extras hidden)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from zhclip.extras import EXTRAS

BLOCKER = Path(__file__).parent / "blocker"
EXTRA_MODULES = sorted({m for extra in EXTRAS.values() for m in extra.modules})


def hidden_extras_env(**extra: str) -> dict[str, str]:
    """The environment of a process in which no optional extra is importable."""
    path = os.pathsep.join(filter(None, [str(BLOCKER), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "ZHCLIP_HIDE_MODULES": ",".join(EXTRA_MODULES), **extra}


def main_jobs(work: Path, model: Path) -> list[list[str]]:
    """Demo, data, model tools, evaluation, training with curves, report, material search, pruning, bench, doctor
    (`serve` runs apart: it does not return). `model` is a Chinese-CLIP .pt; everything else is made here."""
    data, runs, lib = work / "data", work / "runs", work / "library.db"
    tiny_run = ["--max-steps", "3", "--batch-size", "8", "--no-progress", "--warmup", "1"]
    jobs = [
        ["demo", "--dir", work / "demo", "--no-serve", "--photos", "6", "--videos", "1"],
        ["data", "synth", data, "--train", "24", "--valid", "12", "--test", "12", "--image-size", "32"]
        + ["--zeroshot-per-class", "1"],
        ["data", "lmdb", data],
        ["info", model],
        ["convert", model, work / "hf", "--to", "hf"],
        [
            "encode",
            "--model",
            work / "hf",
            "--text",
            "一只红色的猫",
            "--image",
            work / "demo/files/photos/photo_001.jpg",
        ],
        ["eval", "retrieval", "--model", model, "--data", data, "--out", runs / "tiny/data_test", "--name", "tiny"],
        ["eval", "score", data / "test_texts.jsonl", runs / "tiny/data_test/test_predictions.jsonl", work / "s.json"],
        ["eval", "zeroshot", "--model", model, "--data", data / "zeroshot", "--labels", data / "zeroshot/label_cn.txt"]
        + ["--out", runs / "tiny/zeroshot", "--name", "tiny"],
        ["train", "--arch", "tiny", "--data", data, "--out", work / "train", *tiny_run],
        ["distill", "--teacher", model, "--arch", "tiny", "--data", data, "--out", work / "distill", *tiny_run],
        ["report", runs, "--out", work / "report.md"],
        ["index", work / "demo/files", "--db", lib, "--model", model, "--no-progress"],
        ["search", "红色的圆形", "--db", lib, "--json"],
        ["similar", work / "demo/files/photos/photo_000.heic", "--db", lib],
        ["dupes", "--db", lib],
        ["compress", "prune", model, "--out", work / "pruned", "--calibration", "4"],
        ["bench", "encode", "--random-arch", "tiny", "--quick", "--precision", "fp32"],
        ["doctor", "--json", "--no-hub-check"],
    ]
    return [[str(a) for a in job] for job in jobs]


def run_zhclip(python: str | Path, argv: list[str], env: dict | None = None, cwd: Path | None = None, timeout=600):
    return subprocess.run(
        [str(python), "-m", "zhclip", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def check_outputs(work: Path) -> None:
    """What the main jobs must have written."""
    assert (work / "demo/library.db").is_file()
    assert (work / "data/lmdb/train/imgs").is_dir()
    assert json.loads((work / "s.json").read_text())["success"] is True
    assert (work / "report.md").is_file() and (work / "report.png").is_file()
    assert list((work / "train").rglob("*.png")), "training curves were not drawn"
    assert (work / "pruned/model.pt").is_file()


def serve_and_query(python: str | Path, db: Path, env: dict | None = None, timeout: float = 120) -> dict:
    """Start `zhclip serve`, read /api/status once it listens, stop it; the status JSON."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(python), "-m", "zhclip", "serve", "--db", str(db), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as answer:
                    return json.loads(answer.read())
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"zhclip serve did not answer: {server.poll()=}")
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
        assert "Traceback" not in err, err
