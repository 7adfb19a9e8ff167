"""Library entry points: `train` and `distill`. The CLI turns flags into these arguments."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import InputError
from ..models.factory import Weights, build_network, random_model, read_weights
from ..models.network import ClipNetwork
from ..models.tokenizer import Tokenizer
from .config import DistillConfig, TrainConfig
from .distillation import (
    CachedTeacher,
    DistillObjective,
    OnlineTeacher,
    check_context_length,
    check_vocab,
    frozen_network,
)
from .loop import Task, fit
from .objectives import ContrastiveObjective

log = logging.getLogger("zhclip.train")


@dataclass
class ModelInit:
    """Where the network starts: a loadable `source` (fine-tuning) or an `arch` name (from scratch)."""

    source: str | None = None
    arch: str | None = None
    flags: tuple[str, str] = ("--model", "--arch")

    def build(self, seed: int, context_length: int | None = None) -> tuple[ClipNetwork, Weights | None]:
        """The network, reading texts of `context_length` tokens (None: the model's own)."""
        if (self.source is None) == (self.arch is None):
            raise InputError(
                None,
                f"give {self.flags[0]} (start from weights) or {self.flags[1]} (start from scratch), exactly one",
                field=" / ".join(self.flags),
            )
        if self.arch is not None:
            network, weights = random_model(self.arch, seed), None
        else:
            weights = read_weights(self.source)
            network = build_network(weights)
        network.config = network.config.with_context_length(context_length)
        return network, weights


def train(init: ModelInit, cfg: TrainConfig) -> dict:
    """Contrastive fine-tuning (or training from scratch). Returns the run summary."""
    cfg.validate()
    network, weights = init.build(cfg.seed, cfg.context_length)
    tokenizer = Tokenizer(weights.vocab if weights else None, network.config.context_length)
    task = Task(
        ContrastiveObjective(network, multi_positive=cfg.multi_positive),
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
    student, s_weights = init.build(cfg.seed, cfg.context_length)
    t_weights = read_weights(teacher_source)
    check_vocab(s_weights.vocab if s_weights else None, student, t_weights)
    check_context_length(student, t_weights)
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
        DistillObjective(student, teacher, kd, multi_positive=cfg.multi_positive),
        tokenizer,
        s_weights.vocab if s_weights else None,
        "distill",
        meta,
    )
    return fit(task, cfg)
