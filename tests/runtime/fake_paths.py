"""Fake runtimes for testing `precision="auto"`'s plan logic without the hardware: each path's speed is a cost
added to a virtual clock that `auto`'s timing reads, and its fidelity is chosen (a faithful tower returns the
reference embeddings, an unfaithful one unrelated vectors)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

from zhclip.models.config import arch_config
from zhclip.runtime import measure
from zhclip.runtime.plans import TOWERS, cache_path

CONFIG = arch_config("tiny")


class Clock:
    """What `time.perf_counter` returns to `measure.timings`: only the fake encoders advance it."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def use_clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(measure, "time", clock)
    return clock


@dataclass
class FakePath:
    """One fake path: seconds per call of each tower, the towers that keep fidelity, or a build error."""

    image_s: float = 1.0
    text_s: float = 1.0
    faithful: tuple[str, ...] = TOWERS
    build_error: str | None = None


class FakeEncoder:
    def __init__(self, path: FakePath, clock: Clock):
        self.path, self.clock, self.config = path, clock, CONFIG
        self.logit_scale = torch.tensor(1.0)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.path.image_s
        return self._features("image", pixels.flatten(1)[:, :64].float())

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.path.text_s
        return self._features("text", ids.float() + 1.0)

    def _features(self, tower: str, reference: torch.Tensor) -> torch.Tensor:
        if tower in self.path.faithful:
            return reference
        return torch.randn(reference.shape, generator=torch.Generator().manual_seed(len(reference)))


@dataclass
class FakeRuntime:
    """A runtime with the attributes `auto` and the loader read; `paths`: precision -> FakePath."""

    kind: str
    clock: Clock
    paths: dict[str, FakePath]
    device: str | torch.device = "cpu"
    config: object = field(default_factory=lambda: CONFIG)
    built: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.kind}=fake"

    def precisions(self) -> list[str]:
        return list(self.paths)

    def trial_encoder(self, precision: str) -> FakeEncoder:
        self.built.append(precision)
        path = self.paths[precision]
        if path.build_error:
            raise RuntimeError(path.build_error)
        return FakeEncoder(path, self.clock)

    encoder = trial_encoder


def measured_paths() -> dict[str, dict]:
    """Every plan remembered so far: key -> the results of each path measured for it."""
    return {key: found["results"] for key, found in json.loads(cache_path().read_text()).items()}
