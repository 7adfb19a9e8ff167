"""The SIGSEGV with OpenVINO, NNCF and PyTorch in one process (issue 29 item 4): a minimal reproducer.

Cause: OpenVINO's CPU plugin (`ov::intel_cpu::SigAltStackSetup`, src/plugins/intel_cpu/src/sigstack_manager.cpp)
gives the thread that creates a plugin instance a new alternate signal stack (mmap, `sigaltstack(new, &old)`) so
that AMX can be enabled under CPython. Every `ov.Core()` makes its own plugin instance. The plugin's destructor
puts `old` back only when the destroying thread's stack is still its own, and always unmaps its own. So when two
Cores are released in the order they were made (A, B: B restores A's unmapped stack), or a Core is released on
another thread than the one that made it, the thread keeps an alternate stack that is no longer mapped. Nothing
happens until a signal with a handler (every Python handler is installed with SA_ONSTACK) reaches that thread:
the kernel cannot write the signal frame and kills the process with SIGSEGV (si_code SI_KERNEL), and
faulthandler, whose handler runs on the same stack, prints nothing.

In the test suite: PyTorch's DataLoader installs a SIGCHLD handler the first time workers start; the runtime
tests left a dangling stack; the next test that ran the CLI in a subprocess got SIGCHLD when it exited. For a
user: two models on OpenVINO released in the order they were loaded (`zhclip-two-models`: each OpenVinoEncoder
makes its own Core), or a first `precision="auto"` load that measured every path in-process (several encoders,
plus NNCF's Cores), turn a later Ctrl-C (SIGINT) or any handled signal into SIGSEGV. NNCF and PyTorch only add
Cores and a signal handler; OpenVINO alone crashes (`two-cores-fifo`). Neither OMP/MKL/TBB thread settings nor
import order change it. The fix: one `ov.Core` for the whole process, kept until exit (`one-shared-core`).

    .venv/bin/python benchmarks/segfault_repro.py [--runs 3] [--sequence NAME ...] [--json PATH]

Each sequence runs in `python -X faulthandler` children; the table says how each run ended, the last step it
printed, and whether faulthandler printed anything. Writes JSON (default benchmarks/results/segfault_repro.json).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "segfault_repro.json"
CHILD_TIMEOUT_S = 600
LIBRARIES = ("openvino", "nncf", "torch", "onnxruntime", "numpy")


class StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def step(label: str) -> None:
    """Prints `label` with this thread's alternate signal stack and whether its memory is still mapped."""
    current = StackT()
    ctypes.CDLL(None).sigaltstack(None, ctypes.byref(current))
    start = current.ss_sp or 0
    with open("/proc/self/maps") as maps:
        ranges = [line.split()[0].split("-") for line in maps]
    mapped = any(int(low, 16) <= start < int(high, 16) for low, high in ranges)
    print(f"STEP {label}: altstack {start:#x} ({current.ss_size} B) {'mapped' if mapped else 'NOT MAPPED'}")
    sys.stdout.flush()


def compiled_relu(core):
    """A one-op model compiled on the CPU (creates `core`'s CPU plugin, and with it its alternate stack)."""
    import numpy as np
    import openvino as ov

    x = ov.opset13.parameter([1, 8], np.float32)
    return core.compile_model(ov.Model([ov.opset13.relu(x)], [x]), "CPU")


def handled_signal() -> None:
    """A signal with a Python handler: the kernel writes its frame on the alternate stack."""
    signal.signal(signal.SIGUSR1, lambda *_: print("handler ran"))
    os.kill(os.getpid(), signal.SIGUSR1)
    step("after a handled signal")


def two_cores(release_order: str) -> None:
    import openvino as ov

    models = {"A": compiled_relu(ov.Core()), "B": compiled_relu(ov.Core())}
    step("two Cores made, A then B")
    for name in release_order:
        del models[name]
        step(f"released {name}")
    handled_signal()


def core_freed_on_thread() -> None:
    import openvino as ov

    held = [compiled_relu(ov.Core())]
    step("Core made on the main thread")
    release = threading.Thread(target=held.clear)
    release.start()
    release.join()
    step("its last reference dropped on another thread")
    handled_signal()


def one_shared_core() -> None:
    """The workaround: one Core for the process, kept; its compiled models released in any order, anywhere."""
    import openvino as ov

    core = ov.Core()  # in product code: one per process, never released before exit
    models = [compiled_relu(core), compiled_relu(core)]
    step("two models compiled by one Core")
    del models[0]
    release = threading.Thread(target=models.clear)
    release.start()
    release.join()
    step("released first-made first, the second on another thread")
    handled_signal()


def suite() -> None:
    """What killed the test suite: PyTorch's SIGCHLD handler, two Cores released A then B, a subprocess exits."""
    import torch

    loader = torch.utils.data.DataLoader(torch.arange(4), num_workers=1)
    assert len(list(loader)) == 4  # starting workers installs torch's SIGCHLD handler in this process
    step("DataLoader with a worker ran")
    import openvino as ov

    models = [compiled_relu(ov.Core()), compiled_relu(ov.Core())]
    models.pop(0)
    models.pop(0)
    step("two Cores released A then B")
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    step("a subprocess exited (SIGCHLD)")


def tiny_checkpoint() -> Path:
    """A tiny random model's checkpoint, with an empty conversion cache of its own."""
    from zhclip.models import random_model, save_cnclip

    folder = Path(tempfile.mkdtemp())
    os.environ["ZHCLIP_CACHE_DIR"] = str(folder / "cache")
    network = random_model("tiny", seed=1234)
    return save_cnclip(network.state_dict(), network.config, folder / "tiny.pt")


def ctrl_c() -> None:
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    except KeyboardInterrupt:
        step("Ctrl-C raised KeyboardInterrupt")


def zhclip_two_models() -> None:
    """Two models on OpenVINO (each encoder has its own Core) released in the order they were loaded, then Ctrl-C."""
    import zhclip

    checkpoint = tiny_checkpoint()
    models = [zhclip.load(checkpoint, device="cpu", precision="fp32", runtime="openvino") for _ in range(2)]
    step("two models loaded")
    while models:
        models.pop(0)
        gc.collect()
        step("a model released")
    ctrl_c()


def zhclip_auto() -> None:
    """A user's first `precision="auto"` load (empty cache), then Ctrl-C."""
    import zhclip

    model = zhclip.load(tiny_checkpoint(), device="cpu", precision="auto")
    gc.collect()
    step(f"auto chose {model.paths}")
    ctrl_c()


SEQUENCES = {
    "two-cores-fifo": (lambda: two_cores("AB"), "crashes"),
    "two-cores-lifo": (lambda: two_cores("BA"), "survives"),
    "core-freed-on-thread": (core_freed_on_thread, "crashes"),
    "one-shared-core": (one_shared_core, "survives"),
    "suite": (suite, "crashes"),
    "zhclip-two-models": (zhclip_two_models, "crashes"),
    "zhclip-auto": (zhclip_auto, "may crash: depends on which Cores auto leaves and in what order they go"),
}
DEFAULT = [name for name in SEQUENCES if name != "zhclip-auto"]


def run_child(name: str) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", __file__, "--child", name],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    steps = [line[5:] for line in result.stdout.splitlines() if line.startswith("STEP ")]
    code = result.returncode
    return {
        "exit": signal.Signals(-code).name if code < 0 else code,
        "seconds": round(time.perf_counter() - started, 1),
        "last_step": steps[-1] if steps else None,
        "steps": steps,
        "faulthandler_printed": "Fatal Python error" in result.stderr,
        "stderr_tail": result.stderr[-1500:],
    }


def environment() -> dict:
    from zhclip.cpu import cpu_info

    info = cpu_info()
    versions = {}
    for library in LIBRARIES:
        try:
            versions[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            versions[library] = None
    return {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpu": info.model,
        "cpu_flags": sorted(flag for flag, present in info.features().items() if present),
        "versions": versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="children per sequence")
    parser.add_argument("--sequence", action="append", choices=sorted(SEQUENCES), help=f"default: {DEFAULT}")
    parser.add_argument("--json", type=Path, default=OUT)
    parser.add_argument("--child", choices=sorted(SEQUENCES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        SEQUENCES[args.child][0]()
        return
    env = environment()
    print(json.dumps(env, indent=1))
    results = {}
    for name in args.sequence or DEFAULT:
        results[name] = [run_child(name) for _ in range(args.runs)]
        print(f"\n{name} (expected: {SEQUENCES[name][1]})")
        for run in results[name]:
            print(f"  exit {run['exit']} after {run['seconds']} s; faulthandler printed: {run['faulthandler_printed']}")
            print(f"    last step: {run['last_step']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"environment": env, "runs": results}, indent=1, ensure_ascii=False))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
