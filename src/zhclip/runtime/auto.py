"""`precision="auto"`: measure every path (runtime and precision) once per machine and architecture and pick,
per tower, the fastest whose embeddings reach the fidelity bar: the best image path (a batch) and the best
one-query text path are often different runtimes. The plan is remembered in `auto_precision.json` in the cache
folder (`ZHCLIP_CACHE_DIR`, default `~/.cache/zhclip`)."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..io import write_json
from ..models.config import ClipConfig
from ..models.model import Encoder
from .base import Runtime
from .cache import cache_root
from .calibration import Batch, synthetic_batch
from .machine import cpuinfo
from .measure import FIDELITY_BAR, mean_cosine, timings

log = logging.getLogger(__name__)

CACHE_FILE = "auto_precision.json"
PROBE_IMAGES = 4
ROUNDS = 3
SLOW_FACTOR = 1.5  # a candidate this much slower than the first on both towers after a round is dropped
TOWERS = ("image", "text")
Plan = dict[str, str]  # tower -> path name ("openvino-int8"); runtimes are named by their `kind`


def cache_path() -> Path:
    return cache_root() / CACHE_FILE


def choose_plan(runtimes: Sequence[Runtime]) -> Plan:
    """The fastest path per tower among `runtimes`' precisions that keeps fidelity (the first path is the
    reference), measured once per machine, architecture and set of runtimes."""
    candidates = {
        f"{rt.kind}-{p}": (lambda rt=rt, p=p: rt.trial_encoder(p)) for rt in runtimes for p in rt.precisions()
    }
    first = runtimes[0]
    key = cache_key("+".join(rt.name for rt in runtimes), first.device, first.config)
    return choose(key, candidates, first.config)


def cached_plan(runtime_names: Sequence[str], device: torch.device, config: ClipConfig) -> Plan | None:
    """The plan measured before for these runtimes, this machine and architecture, if any."""
    found = _read_cache().get(cache_key("+".join(runtime_names), device, config))
    return found["plan"] if found and set(found.get("plan", {})) == set(TOWERS) else None


def choose(key: str, candidates: dict[str, Callable[[], Encoder]], config: ClipConfig) -> Plan:
    cache = _read_cache()
    if key in cache and set(cache[key].get("plan", {})) == set(TOWERS):
        return cache[key]["plan"]
    log.warning("precision auto: measuring %s once for this machine and architecture", ", ".join(candidates))
    results = measure_candidates(candidates, synthetic_batch(PROBE_IMAGES, config.vision.image_size))
    plan = {tower: _fastest(results, tower) for tower in TOWERS}
    cache[key] = {"plan": plan, "results": results}
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, cache)
    log.warning("precision auto: chose %s", ", ".join(f"{t} {p}" for t, p in plan.items()))
    return plan


def _fastest(results: dict[str, dict], tower: str) -> str:
    good = [name for name, r in results.items() if (r[f"{tower}_fidelity"] or 0.0) >= FIDELITY_BAR]
    return max(good, key=lambda name: results[name][f"{tower}_speedup"])


def measure_candidates(
    candidates: dict[str, Callable[[], Encoder]], probe: Batch, rounds: int = ROUNDS
) -> dict[str, dict]:
    """Per tower: speed-up over the first candidate (an image batch; a one-query text) and fidelity to it.

    Candidates are timed in turn, round after round, so a burst of load from elsewhere hits them alike;
    one that is `SLOW_FACTOR` slower than the first on both towers after the first round is not measured
    further (its fidelity is then unknown, and it is not chosen)."""
    query = probe.ids[:1, : int((probe.ids[0] != 0).sum())]
    with torch.inference_mode():
        encoders = {name: build() for name, build in candidates.items()}
        times: dict[str, dict[str, float]] = {}
        for round_ in range(rounds):
            for name, encoder in encoders.items():
                image = timings(lambda e=encoder: e.encode_image(probe.pixels), 1, warmup=int(round_ == 0))[0]
                text = min(timings(lambda e=encoder: e.encode_text(query), 3, warmup=int(round_ == 0)))
                best = times.get(name, {"image": image, "text": text})
                times[name] = {"image": min(image, best["image"]), "text": min(text, best["text"])}
            encoders = _drop_slow(encoders, times)
        outputs = {name: (e.encode_image(probe.pixels), e.encode_text(probe.ids)) for name, e in encoders.items()}
    reference = next(iter(candidates))
    return {name: _compare(times[name], times[reference], outputs.get(name), outputs[reference]) for name in times}


def _drop_slow(encoders: dict[str, Encoder], times: dict[str, dict[str, float]]) -> dict[str, Encoder]:
    reference = next(iter(times.values()))
    return {
        name: e
        for name, e in encoders.items()
        if any(times[name][tower] <= SLOW_FACTOR * reference[tower] for tower in TOWERS)
    }


def _compare(current: dict, reference: dict, outputs: tuple | None, reference_outputs: tuple) -> dict:
    result = {}
    for i, tower in enumerate(TOWERS):
        result[f"{tower}_speedup"] = round(reference[tower] / current[tower], 3)
        fidelity = None if outputs is None else round(mean_cosine(outputs[i], reference_outputs[i]), 5)
        result[f"{tower}_fidelity"] = fidelity
    return result


def cache_key(runtime: str, device: torch.device, config: ClipConfig) -> str:
    shapes = {k: v for k, v in config.to_dict().items() if k != "name"}
    arch = hashlib.sha1(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:12]
    return f"{runtime}|{_machine(device)}|{config.name}:{arch}"


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    flags = hashlib.sha1(cpuinfo().encode()).hexdigest()[:10]
    return f"cpu:{platform.machine()}:{flags}:threads={torch.get_num_threads()}:torch={torch.__version__}"


def _read_cache() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
