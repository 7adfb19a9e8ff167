"""OpenVINO's CPU plugin and signals: every Core of the process is the one shared Core (see
`runtime.openvino.shared_core`; the crash is reproduced by benchmarks/segfault_repro.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")

SOURCE = Path(__file__).resolve().parents[2] / "src" / "zhclip"

# Two compiled models released in the order they were made, then a handled signal: with a Core each, the
# second release leaves the main thread on an unmapped signal stack and the handler's frame kills the process.
TWO_MODELS_THEN_A_SIGNAL = """
import os, signal
import numpy as np
import openvino as ov
from openvino import opset13 as ops
from zhclip.runtime.openvino import shared_core

def model():
    x = ops.parameter([1, 8], np.float32)
    return ov.Model([ops.relu(x)], [x])

first = shared_core().compile_model(model(), "CPU")
second = shared_core().compile_model(model(), "CPU")
del first
del second
caught = []
signal.signal(signal.SIGUSR1, lambda *_: caught.append(1))
os.kill(os.getpid(), signal.SIGUSR1)
print("handled", len(caught))
"""


def test_models_released_in_load_order_survive_a_signal():
    done = subprocess.run([sys.executable, "-c", TWO_MODELS_THEN_A_SIGNAL], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "handled 1"


def test_no_module_makes_a_core_of_its_own():
    made = [
        f"{path.relative_to(SOURCE)}:{n}"
        for path in SOURCE.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bCore\(\)", line) and "def shared_core" not in line
    ]
    assert made == ["runtime/openvino.py:" + str(_shared_core_line())], made


def _shared_core_line() -> int:
    lines = (SOURCE / "runtime" / "openvino.py").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if "return ov.Core()" in line)
