"""`precision="auto"`: measure every path (runtime and precision) once per machine and architecture and pick,
per tower, the fastest whose embeddings reach the fidelity bar: the best image path (a batch) and the best
one-query text path are often different runtimes. The plan is remembered in `auto_precision.json` in the cache
folder (`ZHCLIP_CACHE_DIR`, default `~/.cache/zhclip`; see `plans`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import torch

from ..cpu import cpu_info
from ..models.config import ClipConfig
from ..models.device import device_type
from ..models.model import Encoder
from .base import Runtime, encoder_device
from .calibration import Batch, synthetic_batch, with_short_queries
from .machine import excluded_paths
from .measure import FIDELITY_BAR, mean_cosine, timings
from .memory import release_memory
from .plans import BUSY, TOWERS, Plan, cache_key, load_per_core, measured_plan, read_plans, remember_plan

log = logging.getLogger(__name__)

PROBE_IMAGES = 4
ROUNDS = 3
SLOW_FACTOR = 1.5  # a candidate this much slower than the first on both towers after a round is dropped


def choose_plan(runtimes: Sequence[Runtime]) -> Plan:
    """The fastest path per tower among `runtimes`' precisions that keeps fidelity (the first path is the
    reference), measured once per machine, architecture and set of runtimes. On a CPU, paths it lacks the
    instructions for are left out with a log line (`machine.excluded_paths`); on a GPU, `runtimes` holds the GPU
    runtimes (`cuda`), and a path that cannot be built there is logged and never chosen."""
    candidates = {
        f"{rt.kind}-{p}": (lambda rt=rt, p=p: rt.trial_encoder(p)) for rt in runtimes for p in rt.precisions()
    }
    first = runtimes[0]
    if device_type(first.device) == "cpu":
        for name, reason in excluded_paths(list(candidates)[1:], cpu_info()).items():
            log.warning("precision auto: not measuring %s: %s", name, reason)
            del candidates[name]
    key = cache_key("+".join(rt.name for rt in runtimes), first.device, first.config)
    return choose(key, candidates, first.config)


def choose(key: str, candidates: dict[str, Callable[[], Encoder]], config: ClipConfig) -> Plan:
    known = measured_plan(read_plans(), key)
    if known is not None:
        return known
    log.warning("precision auto: measuring %s once for this machine and architecture", ", ".join(candidates))
    load = load_per_core()
    results = measure_candidates(candidates, synthetic_batch(PROBE_IMAGES, config.vision.image_size))
    plan = {tower: _fastest(results, tower) for tower in TOWERS}
    load = max(load, load_per_core())
    remember_plan(key, plan, results, load)
    log.warning("precision auto: chose %s", ", ".join(f"{t} {p}" for t, p in plan.items()))
    if load > BUSY:
        log.warning(
            "precision auto: measured at a load of %.2f per CPU; measured again when the machine is quieter", load
        )
    return plan


def _fastest(results: dict[str, dict], tower: str) -> str:
    good = [name for name, r in results.items() if (r[f"{tower}_fidelity"] or 0.0) >= FIDELITY_BAR]
    return max(good, key=lambda name: results[name][f"{tower}_speedup"])


def measure_candidates(
    candidates: dict[str, Callable[[], Encoder]], probe: Batch, rounds: int = ROUNDS
) -> dict[str, dict]:
    """Per tower: speed-up over the first candidate, the reference (an image batch; a one-query text), and
    fidelity to it (texts: the probe's captions and 4-character queries cut from them).

    Candidates are built and measured one at a time, so that the reference and one other are held at once
    (converting and holding ViT-B-16's eight paths together took 7.5 GB). Each is timed in rounds that alternate
    with the reference, so a burst of load from elsewhere hits both alike; one `SLOW_FACTOR` slower than the
    reference on both towers after the first round is not measured further (its fidelity is then unknown, and
    it is not chosen). A line per path logs its time, the time spent and an estimate of the time left."""
    query = probe.ids[:1, : int((probe.ids[0] != 0).sum())]
    texts = with_short_queries(probe.ids)
    names = list(candidates)
    start = time.perf_counter()
    with torch.inference_mode():
        reference = candidates[names[0]]()
        expected = _outputs(reference, probe.pixels, texts)
        results = {names[0]: _compare({"image": 1.0, "text": 1.0}, {"image": 1.0, "text": 1.0}, expected, expected)}
        for done, name in enumerate(names[1:], start=2):
            path_start = time.perf_counter()
            try:
                encoder = candidates[name]()
            except Exception as exc:  # converters and engine builders (TensorRT, ...) fail in their own ways
                log.warning("precision auto: [%d/%d] %s cannot run here, not chosen (%s)", done, len(names), name, exc)
                results[name] = _unbuilt(str(exc))
                continue
            times, reference_times = _paired_times(encoder, reference, probe.pixels, query, rounds)
            outputs = _outputs(encoder, probe.pixels, texts) if _fast_enough(times, reference_times) else None
            results[name] = _compare(times, reference_times, outputs, expected)
            del encoder
            release_memory()
            _log_progress(name, done, len(names), path_start, start)
    return results


def _paired_times(encoder: Encoder, reference: Encoder, pixels, query, rounds: int) -> tuple[dict, dict]:
    """Best seconds per tower of `encoder` and of `reference`, timed in alternation (the first round warms up)."""
    best: list[dict[str, float]] = [{}, {}]
    for round_ in range(rounds):
        for i, e in enumerate((encoder, reference)):
            image = timings(lambda e=e: _image(e, pixels), 1, warmup=int(round_ == 0))[0]
            text = min(timings(lambda e=e: _text(e, query), 3, warmup=int(round_ == 0)))
            best[i] = {"image": min(image, best[i].get("image", image)), "text": min(text, best[i].get("text", text))}
        if not _fast_enough(*best):
            break
    return best[0], best[1]


def _fast_enough(times: dict[str, float], reference: dict[str, float]) -> bool:
    return any(times[tower] <= SLOW_FACTOR * reference[tower] for tower in TOWERS)


def _outputs(encoder: Encoder, pixels, texts) -> tuple:
    return _image(encoder, pixels), _text(encoder, texts)


def _image(encoder: Encoder, pixels: torch.Tensor) -> torch.Tensor:
    """Embeddings on the CPU, as a ClipModel hands them on: a GPU path is timed to its finished result."""
    return encoder.encode_image(pixels.to(encoder_device(encoder))).cpu()


def _text(encoder: Encoder, ids: torch.Tensor) -> torch.Tensor:
    return encoder.encode_text(ids.to(encoder_device(encoder))).cpu()


def _log_progress(name: str, done: int, total: int, path_start: float, start: float) -> None:
    now = time.perf_counter()
    left = (now - start) / done * (total - done)
    log.warning(
        "precision auto: [%d/%d] %s measured in %.1f s; %.0f s so far, about %.0f s left",
        done,
        total,
        name,
        now - path_start,
        now - start,
        left,
    )


def _unbuilt(error: str) -> dict:
    """The result of a path that could not be built: no speed, no fidelity, so it is never chosen."""
    return {**{f"{tower}_{what}": None for tower in TOWERS for what in ("speedup", "fidelity")}, "error": error}


def _compare(current: dict, reference: dict, outputs: tuple | None, reference_outputs: tuple) -> dict:
    result = {}
    for i, tower in enumerate(TOWERS):
        result[f"{tower}_speedup"] = round(reference[tower] / current[tower], 3)
        fidelity = None if outputs is None else round(mean_cosine(outputs[i], reference_outputs[i]), 5)
        result[f"{tower}_fidelity"] = fidelity
    return result
