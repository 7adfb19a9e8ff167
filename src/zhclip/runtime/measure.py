"""Timing and fidelity helpers shared by `auto` precision selection and `zhclip bench`."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

FIDELITY_BAR = 0.99  # mean cosine to the fp32 embeddings that a fast path must reach


def timings(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Seconds per call of `fn` over `repeat` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def median(values: list[float]) -> float:
    return statistics.median(values)


def mean_cosine(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return float(F.cosine_similarity(a, b, dim=-1).mean())
