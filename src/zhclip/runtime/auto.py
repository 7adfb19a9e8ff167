"""`precision="auto"`: measure every path (runtime and precision) once per machine and architecture and pick,
per tower, the fastest whose embeddings reach the fidelity bar: the best image path (a batch) and the best
one-query text path are often different runtimes. The plan is remembered in `auto_precision.json` in the cache
folder (`ZHCLIP_CACHE_DIR`, default `~/.cache/zhclip`; see `plans`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from ..models.config import ClipConfig
from ..models.model import Encoder
from .base import Runtime
from .calibration import Batch, synthetic_batch, with_short_queries
from .measure import FIDELITY_BAR, mean_cosine, timings
from .plans import TOWERS, Plan, cache_key, measured_plan, read_plans, remember_plan

log = logging.getLogger(__name__)

PROBE_IMAGES = 4
ROUNDS = 3
SLOW_FACTOR = 1.5  # a candidate this much slower than the first on both towers after a round is dropped


def choose_plan(runtimes: Sequence[Runtime]) -> Plan:
    """The fastest path per tower among `runtimes`' precisions that keeps fidelity (the first path is the
    reference), measured once per machine, architecture and set of runtimes."""
    candidates = {
        f"{rt.kind}-{p}": (lambda rt=rt, p=p: rt.trial_encoder(p)) for rt in runtimes for p in rt.precisions()
    }
    first = runtimes[0]
    key = cache_key("+".join(rt.name for rt in runtimes), first.device, first.config)
    return choose(key, candidates, first.config)


def choose(key: str, candidates: dict[str, Callable[[], Encoder]], config: ClipConfig) -> Plan:
    known = measured_plan(read_plans(), key)
    if known is not None:
        return known
    log.warning("precision auto: measuring %s once for this machine and architecture", ", ".join(candidates))
    results = measure_candidates(candidates, synthetic_batch(PROBE_IMAGES, config.vision.image_size))
    plan = {tower: _fastest(results, tower) for tower in TOWERS}
    remember_plan(key, plan, results)
    log.warning("precision auto: chose %s", ", ".join(f"{t} {p}" for t, p in plan.items()))
    return plan


def _fastest(results: dict[str, dict], tower: str) -> str:
    good = [name for name, r in results.items() if (r[f"{tower}_fidelity"] or 0.0) >= FIDELITY_BAR]
    return max(good, key=lambda name: results[name][f"{tower}_speedup"])


def measure_candidates(
    candidates: dict[str, Callable[[], Encoder]], probe: Batch, rounds: int = ROUNDS
) -> dict[str, dict]:
    """Per tower: speed-up over the first candidate (an image batch; a one-query text) and fidelity to it
    (texts: the probe's captions and 4-character queries cut from them).

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
        texts = with_short_queries(probe.ids)
        outputs = {name: (e.encode_image(probe.pixels), e.encode_text(texts)) for name, e in encoders.items()}
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
