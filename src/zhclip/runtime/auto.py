"""`precision="auto"`: measure each supported path once per machine and architecture, keep the fastest whose
embeddings reach the fidelity bar, and remember the answer in `~/.cache/zhclip/auto_precision.json`
(`ZHCLIP_CACHE_DIR` moves it)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
from collections.abc import Callable
from pathlib import Path

import torch

from ..data.io import write_json
from ..models.config import ClipConfig
from ..models.model import Encoder
from .base import Runtime
from .calibration import Batch, synthetic_batch
from .machine import cpuinfo
from .measure import FIDELITY_BAR, mean_cosine, timings

log = logging.getLogger(__name__)

CACHE_FILE = "auto_precision.json"
PROBE_IMAGES = 4
ROUNDS = 3
SLOW_FACTOR = 1.5  # a candidate whose first run is this much slower than fp32 is not measured further


def cache_path() -> Path:
    root = os.environ.get("ZHCLIP_CACHE_DIR") or Path.home() / ".cache" / "zhclip"
    return Path(root) / CACHE_FILE


def choose_precision(runtime: Runtime) -> str:
    """The fastest precision of `runtime` that keeps fidelity, measured once per machine and architecture."""
    candidates = {p: (lambda p=p: runtime.trial_encoder(p)) for p in runtime.precisions()}
    return choose(cache_key(runtime.name, runtime.device, runtime.config), candidates, runtime.config)


def choose(key: str, candidates: dict[str, Callable[[], Encoder]], config: ClipConfig) -> str:
    cache = _read_cache()
    if key in cache:
        return cache[key]["choice"]
    log.info("precision auto: measuring %s once for this machine and architecture", ", ".join(candidates))
    results = measure_candidates(candidates, synthetic_batch(PROBE_IMAGES, config.vision.image_size))
    good = [p for p, r in results.items() if (r["fidelity"] or 0.0) >= FIDELITY_BAR]
    choice = max(good, key=lambda p: results[p]["speedup"])
    cache[key] = {"choice": choice, "results": results}
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, cache)
    log.info("precision auto: chose %s (%s)", choice, results)
    return choice


def measure_candidates(
    candidates: dict[str, Callable[[], Encoder]], probe: Batch, rounds: int = ROUNDS
) -> dict[str, dict]:
    """Speed-up over the first candidate (geometric mean of image-batch and one-query text time) and fidelity.

    Candidates are timed in turn, round after round, so a burst of load from elsewhere hits them alike;
    one that is `SLOW_FACTOR` slower than the first after the first round is not measured further."""
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
    reference = sum(next(iter(times.values())).values())
    return {name: e for name, e in encoders.items() if sum(times[name].values()) <= SLOW_FACTOR * reference}


def _compare(current: dict, reference: dict, outputs: tuple | None, reference_outputs: tuple) -> dict:
    speedup = math.sqrt(reference["image"] / current["image"] * reference["text"] / current["text"])
    fidelity = None
    if outputs is not None:
        fidelity = round(min(mean_cosine(a, b) for a, b in zip(outputs, reference_outputs, strict=True)), 5)
    return {"speedup": round(speedup, 3), "fidelity": fidelity}


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
