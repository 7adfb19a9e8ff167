"""`zhclip search TEXT` and `zhclip index` on a library whose model `auto` put on converted towers run without
PyTorch: its import is most of a cold query's time, and a second of every index command's. The subprocess makes
`import torch` fail and must still answer (or index), with the results the test process (which has torch) gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.search.media import photo
from zhclip.runtime import auto, load

pytest.importorskip("onnxruntime")

WITHOUT_TORCH = "import sys; sys.modules['torch'] = None; from zhclip.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def converted_library(tmp_path, model_path, monkeypatch, cli):
    """A library indexed at `--precision auto`, whose plan puts both towers on ONNX Runtime int8."""
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ZHCLIP_RUNTIMES", "torch,onnxruntime")
    measured = auto.measure_candidates

    def measure(candidates, probe):  # whatever the timings of the tiny model say
        results = measured(candidates, probe)
        results["onnxruntime-int8"].update(image_speedup=1e6, text_speedup=1e6, image_fidelity=1.0, text_fidelity=1.0)
        return results

    monkeypatch.setattr(auto, "measure_candidates", measure)
    load(model_path, device="cpu", precision="auto", choose=auto.choose_plan)  # the plan, measured here (patched)
    for seed in range(6):
        photo(tmp_path / "photos" / f"p{seed}.png", seed)
    db = tmp_path / "lib.db"
    result = cli("index", tmp_path / "photos", "--db", db, "--model", model_path, "--precision", "auto")
    assert result.returncode == 0, result.stderr
    return db


def without_torch(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", WITHOUT_TORCH, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=120)


def test_text_search_answers_without_torch(converted_library, cli):
    expected = cli("search", "红色的汽车", "--db", converted_library, "--min-score", "-1", "--json")
    assert expected.returncode == 0, expected.stderr
    run = without_torch("search", "红色的汽车", "--db", converted_library, "--min-score", "-1", "--json")
    assert run.returncode == 0, run.stderr
    _same_ranking(json.loads(run.stdout), json.loads(expected.stdout))


def test_indexing_runs_without_torch(converted_library, tmp_path, model_path, cli):
    again = tmp_path / "again.db"
    run = without_torch("index", tmp_path / "photos", "--db", again, "--model", model_path, "--precision", "auto")
    assert run.returncode == 0, run.stderr
    searches = [
        cli("search", "红色的汽车", "--db", db, "--min-score", "-1", "--json") for db in (again, converted_library)
    ]
    _same_ranking(*(json.loads(s.stdout) for s in searches))


def _same_ranking(found: list[dict], wanted: list[dict]) -> None:
    assert len(found) == 6
    assert [r["path"] for r in found] == [r["path"] for r in wanted]
    assert [r["score"] for r in found] == pytest.approx([r["score"] for r in wanted], abs=1e-6)
