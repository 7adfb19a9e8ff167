"""`zhclip doctor` and the CPU check: facts of this machine, the `auto` choices file, the hub check against a
local server, and a clear message for a CPU too old for the installed PyTorch (faked here)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zhclip import cpu
from zhclip.cli import main
from zhclip.doctor import auto_choices, directory_size, hub_status
from zhclip.errors import UnsupportedError
from zhclip.runtime import plans

OLD_CPUINFO = """processor\t: 0
model name\t: Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 sse sse2 ssse3 sse4_1

processor\t: 1
model name\t: Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 sse sse2 ssse3 sse4_1 avx avx2
"""


def test_cpuinfo_parsing_reads_the_first_processor(tmp_path):
    (tmp_path / "cpuinfo").write_text(OLD_CPUINFO)
    info = cpu.cpu_info(tmp_path / "cpuinfo")
    assert info.model.startswith("Intel(R) Core(TM)2 Duo")
    if info.is_x86:
        assert info.missing_torch_baseline() == ["avx", "avx2"]
        assert info.features()["sse4_2"] is False and info.features()["avx512_vnni"] is False


def test_probe_reports_an_illegal_instruction_in_words(monkeypatch):
    monkeypatch.setattr(cpu, "PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGILL)")
    assert "Illegal instruction" in cpu.probe_torch(timeout=60)
    monkeypatch.setattr(cpu, "PROBE", "pass")
    assert cpu.probe_torch(timeout=60) is None


def test_a_cpu_too_old_for_torch_gets_one_clear_line(monkeypatch, capsys):
    old = cpu.CpuInfo("Intel(R) Core(TM)2 Duo CPU E8400", "x86_64", 2, frozenset({"sse2", "sse4_1"}))
    monkeypatch.setattr(cpu, "cpu_info", lambda: old)
    monkeypatch.setattr(cpu, "probe_torch", lambda: "importing PyTorch stopped with 'Illegal instruction' (SIGILL)")
    with pytest.raises(UnsupportedError, match="lacks AVX, AVX2, which the installed PyTorch .*Illegal instruction"):
        cpu.check_torch_runs()
    assert main(["info", "whatever.pt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Core(TM)2 Duo" in err[0] and "a CPU with AVX2" in err[0]
    monkeypatch.setattr(cpu, "probe_torch", lambda: None)  # lacking AVX2 but torch runs: no complaint
    cpu.check_torch_runs()


def test_auto_choices_are_read_from_the_cache_file(tmp_path):
    key = f"v{plans.PLAN_VERSION}|torch=2.13.0+onnxruntime=1.32.0|cpu:x86_64:0123456789:cpus=2:omp=-|demo:abcdef012345"
    older = "torch=2.13.0|cpu:x86_64:0123456789:threads=2:torch=2.13.0+cpu|demo:abcdef012345"  # no longer used
    results = {
        "torch-fp32": {"image_speedup": 1.0, "image_fidelity": 1.0, "text_speedup": 1.0, "text_fidelity": 1.0},
        "torch-bf16": {"image_speedup": 2.1, "image_fidelity": 0.9993, "text_speedup": 0.8, "text_fidelity": 0.999},
        "onnxruntime-int8": {"image_speedup": 1.5, "image_fidelity": 0.98, "text_speedup": 3.0, "text_fidelity": 0.995},
    }
    plan = {"image": "torch-bf16", "text": "onnxruntime-int8"}
    entries = {key: {"plan": plan, "results": results}, older: {"plan": plan, "results": results}}
    (tmp_path / "auto_precision.json").write_text(json.dumps(entries))
    assert auto_choices(tmp_path / "auto_precision.json") == [
        {
            "runtimes": "torch=2.13.0+onnxruntime=1.32.0",
            "machine": "cpu:x86_64:0123456789:cpus=2:omp=-",
            "arch": "demo",
            "image": "torch-bf16",
            "image_speedup": 2.1,
            "image_fidelity": 0.9993,
            "text": "onnxruntime-int8",
            "text_speedup": 3.0,
            "text_fidelity": 0.995,
        }
    ]
    (tmp_path / "broken.json").write_text("{")
    assert auto_choices(tmp_path / "broken.json") == [] and auto_choices(tmp_path / "absent.json") == []


def test_directory_size_counts_files_once(tmp_path):
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs/a").write_bytes(b"x" * 1000)
    (tmp_path / "link").symlink_to(tmp_path / "blobs/a")
    assert directory_size(tmp_path) < 1100


class _Hub(BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def _doctor(env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "zhclip", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def test_doctor_json_against_a_local_hub(tmp_path):
    cache = tmp_path / "zhclip-cache"
    cache.mkdir()
    plan = {"plan": {"image": "torch-int8", "text": "torch-int8"}, "results": {}}
    (cache / "auto_precision.json").write_text(json.dumps({f"v{plans.PLAN_VERSION}|torch|cpu:x|tiny:1": plan}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hub = f"http://127.0.0.1:{server.server_port}"
        report = _doctor({"HF_ENDPOINT": hub, "ZHCLIP_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "0"})
    finally:
        server.shutdown()
    assert report["hub"]["reachable"] is True and report["hub"]["endpoint_from_env"] is True
    assert report["torch"]["version"].startswith("2.") and report["torch"]["auto_device"] in ("cpu", "cuda", "mps")
    assert report["cpu"]["logical_cpus"] >= 1 and set(report["extras"]) >= {"onnx", "openvino", "ocr", "modelscope"}
    assert report["caches"]["zhclip"]["path"] == str(cache) and report["caches"]["zhclip"]["bytes"] > 0
    assert report["auto_choices"][0]["image"] == "torch-int8" and report["problems"] == []


def test_hub_status_unreachable_offline_and_unchecked(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    status = hub_status(timeout=5)
    assert status["reachable"] is False and "URLError" in status["detail"]
    assert hub_status(check=False)["reachable"] is None
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_status()["detail"] == "HF_HUB_OFFLINE is set: not checked"


def test_an_unreachable_hub_is_a_problem_that_names_the_ways_around_it(monkeypatch):
    import zhclip.doctor as doctor

    monkeypatch.setattr(doctor, "hub_status", lambda check: {"endpoint": "https://huggingface.co", "reachable": False})
    problems = doctor.diagnose()["problems"]
    assert len(problems) == 1 and "HF_ENDPOINT=https://hf-mirror.com" in problems[0] and "modelscope:" in problems[0]


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_doctor_text_output(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["doctor", "--no-hub-check"]) in (0, 1)
    out = capsys.readouterr().out
    for label in ("cpu ", "features ", "torch ", "threads ", "gpu ", "runtimes ", "extras ", "caches ", "hub "):
        assert f"\n{label}" in out, label
