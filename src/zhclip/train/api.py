"""Library entry points: `train` and `distill`. The CLI turns flags into these arguments."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import InputError
from ..models.factory import Weights, build_network, random_model, read_weights
from ..models.network import ClipNetwork
from ..models.tokenizer import Tokenizer
from .config import DistillConfig, TrainConfig
from .distill import CachedTeacher, DistillObjective, OnlineTeacher, check_vocab, frozen_network
from .loop import Task, fit
from .objectives import ContrastiveObjective

log = logging.getLogger("zhclip.train")


@dataclass
class ModelInit:
    """Where the network starts: a loadable `source` (fine-tuning) or an `arch` name (from scratch)."""

    source: str | None = None
    arch: str | None = None
    flags: tuple[str, str] = ("--model", "--arch")

    def build(self, seed: int) -> tuple[ClipNetwork, Weights | None]:
        if (self.source is None) == (self.arch is None):
            raise InputError(
                None,
                f"give {self.flags[0]} (start from weights) or {self.flags[1]} (start from scratch), exactly one",
                field=" / ".join(self.flags),
            )
        if self.arch is not None:
            return random_model(self.arch, seed), None
        weights = read_weights(self.source)
        return build_network(weights), weights


def train(init: ModelInit, cfg: TrainConfig) -> dict:
    """Contrastive fine-tuning (or training from scratch). Returns the run summary."""
    cfg.validate()
    network, weights = init.build(cfg.seed)
    tokenizer = Tokenizer(weights.vocab if weights else None, network.config.context_length)
    task = Task(
        ContrastiveObjective(network),
        tokenizer,
        weights.vocab if weights else None,
        "train",
        {"init": init.source or f"scratch:{init.arch}"},
    )
    return fit(task, cfg)


def distill(init: ModelInit, teacher_source: str, cfg: TrainConfig, kd: DistillConfig) -> dict:
    """Train the student `init` against a frozen teacher. Returns the run summary."""
    cfg.validate()
    kd.validate()
    if kd.teacher_cache and cfg.augment:
        raise InputError(
            None,
            "the teacher cache holds embeddings of un-augmented images; drop --augment or "
            "run the teacher online (no --teacher-cache)",
            field="--augment",
        )
    student, s_weights = init.build(cfg.seed)
    t_weights = read_weights(teacher_source)
    check_vocab(s_weights.vocab if s_weights else None, student, t_weights)
    tokenizer = Tokenizer(s_weights.vocab if s_weights else None, student.config.context_length)
    t_network = frozen_network(t_weights)
    teacher = (
        CachedTeacher(t_network, cfg.data, cfg.train_split, tokenizer, cfg.skip_bad)
        if kd.teacher_cache
        else OnlineTeacher(t_network)
    )
    meta = {
        "init": init.source or f"scratch:{init.arch}",
        "teacher": str(teacher_source),
        "teacher_arch": t_network.config.name,
        "distill": kd.to_dict(),
    }
    task = Task(
        DistillObjective(student, teacher, kd),
        tokenizer,
        s_weights.vocab if s_weights else None,
        "distill",
        meta,
    )
    return fit(task, cfg)
