"""The plans `precision="auto"` measured (tower -> path), remembered per runtimes, machine and architecture in
`auto_precision.json` in the cache folder. Reading one needs no PyTorch: a text query on converted towers
finds its path here without importing it."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import write_json
from ..models.config import ClipConfig
from ..models.device import device_type
from .cache import cache_root
from .gpu import gpu_info
from .machine import cpuinfo

if TYPE_CHECKING:
    import torch

CACHE_FILE = "auto_precision.json"
# Raised when a path's settings change what `auto` would measure, so that every plan is measured again
# (2: OpenVINO's int8 text tower quantises its activations in groups of 256; 3: the towers' last layers compute
# the class token only, and OpenVINO's int8 text tower is converted from the network; 4: OpenVINO bf16 no longer
# loads the fp32 compiled model, which could give it NaN and so fail fidelity; 5: OpenVINO's int8 image tower is
# converted from the network, with q, k and v as three products, and runs its other layers in bf16 where it can).
PLAN_VERSION = 5
TOWERS = ("image", "text")
Plan = dict[str, str]  # tower -> path name ("openvino-int8"); runtimes are named by their `kind`
# A plan measured while the machine's load per core was above BUSY (the measurement itself counts) is used, and
# measured again by a later run that finds the machine at under half that load: timings taken beside other work
# can crown a slower path (a text tower's bf16 at 9.95 ms was chosen over int8's 5.74 ms that way).
BUSY = 0.75


def cache_path() -> Path:
    return cache_root() / CACHE_FILE


def cached_plan(runtime_names: Sequence[str], device: torch.device | str, config: ClipConfig) -> Plan | None:
    """The plan measured before for these runtimes (`kind=version` names), this machine and architecture."""
    return measured_plan(read_plans(), cache_key("+".join(runtime_names), device, config))


def measured_plan(plans: dict, key: str) -> Plan | None:
    """The plan remembered under `key`; None where there is none, or where it was measured under load and the
    machine is now quiet enough to measure it properly."""
    found = plans.get(key)
    if not found or set(found.get("plan", {})) != set(TOWERS):
        return None
    load = found.get("load_per_core")
    if load is not None and load > BUSY and load_per_core() < load / 2:
        return None
    return found["plan"]


def remember_plan(key: str, plan: Plan, results: dict, load: float) -> None:
    """Remember `plan` with its measurements and the highest load per core seen while measuring."""
    plans = read_plans()
    plans[key] = {"plan": plan, "results": results, "load_per_core": round(load, 2)}
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, plans)


def load_per_core() -> float:
    """The machine's load average over the last minute per CPU (0 where the system does not say)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


def read_plans() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}


def cache_key(runtime: str, device: torch.device | str, config: ClipConfig) -> str:
    shapes = {k: v for k, v in config.to_dict().items() if k != "name"}
    arch = hashlib.sha1(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:12]
    return f"v{PLAN_VERSION}|{runtime}|{_machine(device)}|{config.name}:{arch}"


def key_parts(key: str) -> tuple[str, str, str] | None:
    """(runtimes, machine, architecture name) of a key made by this version (None: an older plan, not used)."""
    version, _, rest = key.partition("|")
    parts = rest.split("|")
    if version != f"v{PLAN_VERSION}" or len(parts) != 3:
        return None
    runtime, machine, arch = parts
    return runtime, machine, arch.split(":")[0]


def _machine(device: torch.device | str) -> str:
    """The GPU's model, compute capability and driver (TensorRT's engines are valid for one of each), or the
    CPU's model and flags and the CPUs this process may use (the runtimes' default thread counts follow them)."""
    if device_type(device) == "cuda":
        return f"cuda:{gpu_info(device).key}"
    flags = hashlib.sha1(cpuinfo().encode()).hexdigest()[:10]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"cpu:{platform.machine()}:{flags}:cpus={cpus}:omp={os.environ.get('OMP_NUM_THREADS', '-')}"
