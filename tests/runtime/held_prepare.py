"""The preparation child, held inside its first conversion until the test lets it go: run as
`python held_prepare.py HOLD_DIR ARGS...` in place of `prepare.CHILD_COMMAND`.

It touches HOLD_DIR/in-build once the ONNX export's files are written (in the entry's temporary folder, not yet
in place) and waits for HOLD_DIR/release. Its `auto` puts both towers on ONNX Runtime int8, whatever the
timings say, so that the test knows the paths the caller switches to."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from zhclip.runtime import auto, child, loader

DEADLINE_S = 300


def held_export(hold: Path):
    export = loader._export

    def export_and_wait(base, out):
        export(base, out)
        (hold / "in-build").touch()
        deadline = time.monotonic() + DEADLINE_S
        while not (hold / "release").exists():
            if time.monotonic() > deadline:
                raise SystemExit("held_prepare: never released")
            time.sleep(0.02)

    return export_and_wait


def onnxruntime_int8_first(candidates, probe):
    results = measure(candidates, probe)
    results["onnxruntime-int8"].update(image_speedup=1e6, text_speedup=1e6, image_fidelity=1.0, text_fidelity=1.0)
    return results


if __name__ == "__main__":
    hold = Path(sys.argv[1])
    loader._export = held_export(hold)
    measure, auto.measure_candidates = auto.measure_candidates, onnxruntime_int8_first
    sys.exit(child.main(sys.argv[2:]))
