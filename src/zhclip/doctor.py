"""`zhclip doctor`: what this machine offers and what zhclip will use, as one JSON-able dict.

On a CPU without PyTorch's x86 baseline (AVX2), PyTorch is first imported in a child process, so a build too new
for the CPU is reported, not crashed on. The `auto` precision choices are read from their cache file; the hub
check is one bounded request."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import __version__
from .cache import CACHE_ENV, cache_dir
from .cpu import cpu_info, probe_torch, too_old_message, torch_version
from .extras import installed_extras
from .runtime import plans

HUB_PROBE_REPO = "OFA-Sys/chinese-clip-vit-base-patch16"
HUB_TIMEOUT_S = 3.0
MIRROR_HINT = (
    "set HF_ENDPOINT to a mirror (e.g. HF_ENDPOINT=https://hf-mirror.com), or load from ModelScope: "
    "zhclip.load('modelscope:damo/multi-modal_clip-vit-base-patch16_zh') after pip install 'zhclip[modelscope]'"
)


def diagnose(check_hub: bool = True) -> dict:
    """Every fact `zhclip doctor` shows; `problems` lists what needs the user's attention."""
    problems: list[str] = []
    cpu = cpu_info()
    missing = cpu.missing_torch_baseline()
    torch_problem = probe_torch() if missing else None  # a CPU with the baseline imports PyTorch here directly
    if torch_version() is None:
        torch_problem = "PyTorch is not installed"
    if torch_problem is not None:
        problems.append(too_old_message(cpu, missing, torch_problem) if missing else torch_problem)
    report = {
        "zhclip": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": {
            "model": cpu.model,
            "machine": cpu.machine,
            "logical_cpus": cpu.logical_cpus,
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpu.logical_cpus,
            "features": cpu.features(),
        },
        "torch": _torch_facts() if torch_problem is None else {"version": torch_version(), "error": torch_problem},
        "runtimes": {"onnxruntime": _onnxruntime_facts(), "openvino": _openvino_facts()},
        "extras": installed_extras(),
        "speech": _speech_facts(),
        "caches": _caches(),
        "auto_choices": auto_choices(plans.cache_path()),
        "hub": hub_status(check_hub),
    }
    if report["hub"]["reachable"] is False:
        problems.append(f"the Hugging Face hub at {report['hub']['endpoint']} is unreachable: {MIRROR_HINT}")
    report["problems"] = problems
    return report


def _torch_facts() -> dict:
    import torch

    from .models.device import auto_device, mps_available, mps_unavailable_reason, supported_precisions

    auto = auto_device()
    cuda = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": {"available": bool(cuda), "build": torch.version.cuda, "devices": cuda},
        "mps": {"available": mps_available(), "detail": None if mps_available() else mps_unavailable_reason()},
        "auto_device": auto.type,
        "auto_device_precisions": supported_precisions(auto),
    }


def _onnxruntime_facts() -> dict | None:
    ort = _import("onnxruntime")
    return None if ort is None else {"version": ort.__version__, "providers": ort.get_available_providers()}


def _openvino_facts() -> dict | None:
    ov = _import("openvino")
    if ov is None:
        return None
    from .runtime.openvino import shared_core

    return {"version": ov.get_version(), "devices": shared_core().available_devices}


def _speech_facts() -> dict:
    """The speech engine (faster-whisper, `zhclip[speech]`) and the model `zhclip index --speech` takes here."""
    from .search.speech.engine import DEFAULT_MODEL_WHY, DEFAULT_MODELS, resolve_device

    whisper = _import("faster_whisper")
    device = resolve_device() if whisper is not None else "cpu"
    return {
        "faster_whisper": whisper.__version__ if whisper is not None else None,
        "default_model": DEFAULT_MODELS[device],
        "device": device,
        "why": DEFAULT_MODEL_WHY,
    }


def _import(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _caches() -> dict:
    from huggingface_hub import constants

    modelscope = os.environ.get("MODELSCOPE_CACHE") or Path.home() / ".cache" / "modelscope"
    return {
        "zhclip": _cache_entry(cache_dir(), CACHE_ENV),
        "huggingface": _cache_entry(Path(constants.HF_HUB_CACHE), "HF_HOME / HF_HUB_CACHE"),
        "modelscope": _cache_entry(Path(modelscope), "MODELSCOPE_CACHE"),
    }


def _cache_entry(path: Path, env: str) -> dict:
    return {"path": str(path), "set_by": env, "exists": path.is_dir(), "bytes": directory_size(path)}


def directory_size(path: Path) -> int:
    """Bytes of the files under `path`, links not followed (the HF cache links snapshots to blobs)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def auto_choices(path: Path) -> list[dict]:
    """The `auto` choices recorded in `path` (a path per tower), one per set of runtimes, machine and architecture
    (plans of older versions, no longer used, are left out)."""
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    choices = []
    for key, entry in sorted(cache.items()) if isinstance(cache, dict) else []:
        parts = plans.key_parts(key)
        if parts is None:
            continue
        plan = entry.get("plan", {}) if isinstance(entry, dict) else {}
        results = entry.get("results", {}) if isinstance(entry, dict) else {}
        choice = dict(zip(("runtimes", "machine", "arch"), parts, strict=True))
        for tower in ("image", "text"):
            result = results.get(plan.get(tower), {})
            choice[tower] = plan.get(tower)
            choice[f"{tower}_speedup"] = result.get(f"{tower}_speedup")
            choice[f"{tower}_fidelity"] = result.get(f"{tower}_fidelity")
        choices.append(choice)
    return choices


def hub_status(check: bool = True, timeout: float = HUB_TIMEOUT_S) -> dict:
    """The Hugging Face endpoint in use (HF_ENDPOINT), offline mode, and whether one request reaches it."""
    from huggingface_hub import constants

    status = {
        "endpoint": constants.ENDPOINT,
        "endpoint_from_env": "HF_ENDPOINT" in os.environ,
        "offline": bool(constants.HF_HUB_OFFLINE),
        "reachable": None,
        "detail": None,
    }
    if status["offline"] or not check:
        status["detail"] = "HF_HUB_OFFLINE is set: not checked" if status["offline"] else "not checked"
        return status
    url = f"{constants.ENDPOINT.rstrip('/')}/api/models/{HUB_PROBE_REPO}"
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            pass
    except urllib.error.HTTPError:
        pass  # an HTTP answer of any status: the endpoint is there
    except (urllib.error.URLError, OSError) as exc:
        status.update(reachable=False, detail=f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
        return status
    status.update(reachable=True, detail=f"answered in {time.perf_counter() - start:.2f} s")
    return status
