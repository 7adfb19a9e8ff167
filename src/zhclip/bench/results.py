"""The JSON every benchmark writes: what it measured (tables of display cells, headline figures, its raw data) and
on what (a machine block: CPU model and the kernel flags, cores, GPU, date, the exact command, package versions).
The results pages and the README's table are rendered from these files (`benchmarks/render_results.py`), so no
number is typed by hand. Files live at `ROOT/<machine kind>/<benchmark>.json`."""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..cpu import cpu_info
from ..io import write_json
from ..runtime.machine import KERNEL_FLAGS

SCHEMA = 1
VERSIONED = ("zhclip", "torch", "numpy", "transformers", "onnxruntime", "openvino", "faiss-cpu")
# The GEMM tier that names a machine kind: the first flag of this list the CPU has.
TIERS = (
    ("amx_int8", "amx"),
    ("avx512_bf16", "avx512-bf16"),
    ("avx512_vnni", "avx512-vnni"),
    ("avx512f", "avx512"),
    ("avx2", "avx2"),
    ("asimd", "neon"),
)


def machine_kind(model: str, flags: frozenset[str] | set[str], gpu: str | None = None) -> str:
    """A file-name-safe name for this kind of machine: CPU family and GEMM tier (`amd-epyc-avx512-bf16`,
    `intel-xeon-amx`), with the GPU when there is one."""
    family = re.sub(r"\(r\)|\(tm\)|processor|\d+-core|cpu @.*", " ", model.lower())
    family = "-".join(family.split()[:2]) or "unknown"
    tier = next((name for flag, name in TIERS if flag in flags), platform.machine().lower())
    words = [family, tier, *([gpu.lower()] if gpu else [])]
    return re.sub(r"[^a-z0-9]+", "-", "-".join(words)).strip("-")


def machine_record(command: str) -> dict:
    """On what, when and how a measurement ran."""
    info = cpu_info()
    gpu = _gpu_name()
    return {
        "kind": machine_kind(info.model, info.flags, gpu),
        "cpu": info.model,
        "arch": info.machine,
        "logical_cpus": info.logical_cpus,
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else info.logical_cpus,
        "flags": [f for f in KERNEL_FLAGS if f in info.flags],
        "missing_flags": [f for f in KERNEL_FLAGS if f not in info.flags] if info.flags else [],
        "gpu": gpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": _versions(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,  # others' work too
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
    }


def table(title: str, columns: list[str], rows: list[list]) -> dict:
    """One table of a results file: display cells, as the benchmark printed them."""
    return {"title": title, "columns": columns, "rows": [[str(cell) for cell in row] for row in rows]}


def headline(measure: str, baseline: str, result: str) -> dict:
    """One line of the README's headline table: what, the baseline measured in the same run, zhclip's figure."""
    return {"measure": measure, "baseline": baseline, "result": result}


def results_document(
    name: str,
    title: str,
    command: str,
    tables: list[dict],
    headlines: list[dict] = (),
    notes: list[str] = (),
    data: dict | None = None,
) -> dict:
    """A results file's content; `data` (the benchmark's raw figures) is kept at the top level beside it."""
    return {
        **(data or {}),
        "schema": SCHEMA,
        "benchmark": name,
        "title": title,
        "machine": machine_record(command),
        "tables": tables,
        "headline": list(headlines),
        "notes": list(notes),
    }


def write_results(document: dict, root: Path) -> Path:
    """Writes `document` to ROOT/<machine kind>/<benchmark>.json (atomically) and returns the path."""
    path = Path(root) / document["machine"]["kind"] / f"{document['benchmark']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, document)
    return path


def command_line(program: str, argv: list[str] | None = None) -> str:
    """The command as typed: PROGRAM (words, e.g. `python benchmarks/x.py`) and this process's arguments."""
    arguments = shlex.join(sys.argv[1:] if argv is None else argv)
    return f"{program} {arguments}".strip()


def _versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _gpu_name() -> str | None:
    """The CUDA device's name when PyTorch is already loaded and sees one (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name()
