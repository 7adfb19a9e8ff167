"""Training and distillation settings as dataclasses, and the one place their defaults are written: the CLI builds
these from flags whose defaults it reads from the fields here. Imports no PyTorch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..choices import AMP_MODES
from ..errors import InputError

FEATURE_LOSSES = ("cosine", "mse")
REPORT_TARGETS = ("tensorboard",)


@dataclass
class OptimConfig:
    lr: float = 5e-5
    wd: float = 0.001
    warmup: int = 100
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    grad_clip: float | None = None

    def validate(self) -> None:
        for value, flag in ((self.lr, "--lr"), (self.eps, "--eps")):
            if not (math.isfinite(value) and value > 0):
                raise InputError(None, f"must be a positive number, got {value}", field=flag)
        if not (math.isfinite(self.wd) and self.wd >= 0):
            raise InputError(None, f"must be 0 or more, got {self.wd}", field="--wd")
        if self.warmup < 0:
            raise InputError(None, f"must be 0 or more, got {self.warmup}", field="--warmup")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InputError(None, f"must be positive, got {self.grad_clip}", field="--grad-clip")


@dataclass
class TrainConfig:
    data: Path
    out: Path
    batch_size: int = 128  # per process; a step sees batch_size x accum_freq x world_size pairs
    accum_freq: int = 1
    epochs: int = 10
    max_steps: int | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    precision: str = "fp32"
    seed: int = 0
    grad_checkpointing: bool = False
    freeze_vision: bool = False
    init_logit_scale: float | None = None  # start the logit scale at this value (e.g. 5 from scratch); None: keep
    augment: bool = False
    context_length: int | None = None  # tokens per text (None: the model's, 52 unless trained longer)
    multi_positive: bool = False  # pairs sharing a text or image id are all positives (soft targets)
    patch_dropout: float = 0.0  # FLIP: share of image patches dropped in training steps
    report_to: str | None = None  # "tensorboard": also write OUT/logs/tensorboard event files
    train_split: str = "train"
    val_split: str = "valid"
    val_every: int | None = None  # None: at each epoch end; 0: never; N: every N steps and at the end
    save_every: int = 200  # steps between mid-epoch saves of epoch_latest.pt
    save_epochs: int = 1  # epochs between epoch_N.pt files; 0: only epoch_latest.pt
    log_every: int = 10
    workers: int = 0
    skip_bad: bool = False
    device: str = "auto"
    resume: Path | None = None
    progress: bool = True
    export_hf: bool = True  # write OUT/hf (a Hugging Face ChineseCLIPModel directory) at the end

    def validate(self) -> None:
        _positive(self.batch_size, "--batch-size")
        _positive(self.accum_freq, "--accum-freq")
        _positive(self.epochs, "--epochs")
        _positive(self.log_every, "--log-every")
        _positive(self.save_every, "--save-every")
        if self.max_steps is not None:
            _positive(self.max_steps, "--max-steps")
        if self.save_epochs < 0:
            raise InputError(None, f"must be 0 (never) or positive, got {self.save_epochs}", field="--save-epochs")
        if self.val_every is not None and self.val_every < 0:
            raise InputError(None, f"must be 0 (off) or positive, got {self.val_every}", field="--val-every")
        if self.workers < 0:
            raise InputError(None, f"must be 0 or more, got {self.workers}", field="--workers")
        if self.precision not in AMP_MODES:
            raise InputError(
                None,
                f"unknown precision {self.precision!r}; use {', '.join(AMP_MODES)}",
                field="--precision",
            )
        self.optim.validate()
        self._validate_model_options()
        if not Path(self.data).is_dir():
            raise InputError(self.data, "dataset directory not found", field="--data")

    def _validate_model_options(self) -> None:
        if self.init_logit_scale is not None and not 1 <= self.init_logit_scale <= 100:
            raise InputError(None, f"must be in [1, 100], got {self.init_logit_scale}", field="--init-logit-scale")
        if not (math.isfinite(self.patch_dropout) and 0 <= self.patch_dropout < 1):
            raise InputError(None, f"must be in [0, 1), got {self.patch_dropout}", field="--patch-dropout")
        if self.report_to is not None and self.report_to not in REPORT_TARGETS:
            raise InputError(
                None, f"unknown target {self.report_to!r}; use {', '.join(REPORT_TARGETS)}", field="--report-to"
            )
        from .logs import check_report_target  # imports PyTorch

        check_report_target(self.report_to)

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


@dataclass
class DistillConfig:
    """Weights of the distillation terms (0 disables one) and how the teacher is run."""

    contrastive: float = 1.0
    kl: float = 1.0
    temperature: float = 4.0
    feature: float = 1.0
    feature_loss: str = "cosine"
    interactive: float = 1.0  # benchmarks/results/distill_defaults.md: +12.9 MR over 0 at 5 seeds
    teacher_cache: bool = False

    def validate(self) -> None:
        weights = {
            "--kd-contrastive": self.contrastive,
            "--kd-kl": self.kl,
            "--kd-feature": self.feature,
            "--kd-interactive": self.interactive,
        }
        for flag, value in weights.items():
            if not (math.isfinite(value) and value >= 0):
                raise InputError(None, f"a loss weight must be 0 or more, got {value}", field=flag)
        if not any(weights.values()):
            raise InputError(None, "all loss weights are 0; nothing to train", field="--kd-*")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise InputError(None, f"must be positive, got {self.temperature}", field="--kd-temperature")
        if self.feature_loss not in FEATURE_LOSSES:
            raise InputError(None, f"use one of {', '.join(FEATURE_LOSSES)}", field="--kd-feature-loss")

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(value: int, flag: str) -> None:
    if value < 1:
        raise InputError(None, f"must be at least 1, got {value}", field=flag)


def _jsonable(data):
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    return str(data) if isinstance(data, Path) else data
