"""`zhclip train` and `zhclip distill` (both also run under `torchrun --nproc_per_node N -m zhclip ...`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..choices import AMP_MODES
from ..train.config import FEATURE_LOSSES, REPORT_TARGETS, DistillConfig, OptimConfig, TrainConfig


def _defaults(settings: type) -> dict[str, object]:
    """Field name -> default of a settings dataclass: the flags' defaults are read from there, never written here."""
    return {f.name: f.default for f in dataclasses.fields(settings) if f.default is not dataclasses.MISSING}


TRAIN, OPTIM, KD = _defaults(TrainConfig), _defaults(OptimConfig), _defaults(DistillConfig)
DEFAULT = " (default %(default)s)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="contrastive fine-tuning or training from scratch (torchrun-ready)")
    start = p.add_argument_group("start from")
    start.add_argument("--model", help="weights to fine-tune: HF dir, hub id, zoo name or Chinese-CLIP .pt")
    start.add_argument("--arch", help="train from scratch with this architecture (e.g. tiny, small, demo, ViT-B-16)")
    _add_training_flags(p)
    p.set_defaults(handler=run_train)

    p = subparsers.add_parser("distill", help="train a student against a frozen teacher (knowledge distillation)")
    p.add_argument("--teacher", required=True, help="any loadable model; frozen; may differ in size and embed dim")
    start = p.add_argument_group("student starts from")
    start.add_argument("--student", help="student weights: HF dir, hub id, zoo name or Chinese-CLIP .pt")
    start.add_argument("--arch", help="student from scratch with this architecture (e.g. tiny, small, demo)")
    kd = p.add_argument_group("distillation terms (weight 0 disables a term)")
    kd.add_argument("--kd-contrastive", type=float, default=KD["contrastive"], help="student's own InfoNCE" + DEFAULT)
    kd.add_argument(
        "--kd-kl",
        type=float,
        default=KD["kl"],
        help="KL of teacher/student similarity distributions, both directions" + DEFAULT,
    )
    kd.add_argument("--kd-temperature", type=float, default=KD["temperature"], help="of the KL term" + DEFAULT)
    kd.add_argument("--kd-feature", type=float, default=KD["feature"], help="feature alignment, both towers" + DEFAULT)
    kd.add_argument("--kd-feature-loss", choices=FEATURE_LOSSES, default=KD["feature_loss"], help=DEFAULT.strip())
    kd.add_argument(
        "--kd-interactive",
        type=float,
        default=KD["interactive"],
        help="interactive contrastive: student image vs teacher text and back" + DEFAULT,
    )
    kd.add_argument(
        "--teacher-cache",
        action="store_true",
        help="embed the dataset with the teacher once, store it beside the dataset, reuse it",
    )
    _add_training_flags(p)
    p.set_defaults(handler=run_distill)


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset directory in Chinese-CLIP layout")
    p.add_argument("--out", required=True, type=Path, help="run directory, e.g. experiments/<run>")
    _add_optimisation_flags(p.add_argument_group("optimisation"))
    _add_run_flags(p.add_argument_group("run"))


def _add_optimisation_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--batch-size", type=int, default=TRAIN["batch_size"], help="pairs per process per micro-batch" + DEFAULT
    )
    g.add_argument(
        "--accum-freq",
        type=int,
        default=TRAIN["accum_freq"],
        help="micro-batches per step; all of them serve as negatives" + DEFAULT,
    )
    g.add_argument("--epochs", type=int, default=TRAIN["epochs"], help=DEFAULT.strip())
    g.add_argument("--max-steps", type=int, help="stop after this many steps (overrides --epochs)")
    g.add_argument("--lr", type=float, default=OPTIM["lr"], help="peak learning rate" + DEFAULT)
    g.add_argument(
        "--wd",
        type=float,
        default=OPTIM["wd"],
        help="AdamW weight decay (not on norms, biases, embeddings, logit scale)" + DEFAULT,
    )
    g.add_argument(
        "--warmup", type=int, default=OPTIM["warmup"], help="linear warmup steps before the cosine decay" + DEFAULT
    )
    g.add_argument("--grad-clip", type=float, help="clip the gradient norm to this value")
    g.add_argument(
        "--precision", choices=AMP_MODES, default=TRAIN["precision"], help="autocast mode of the steps" + DEFAULT
    )
    g.add_argument("--seed", type=int, default=TRAIN["seed"], help=DEFAULT.strip())
    g.add_argument("--grad-checkpointing", action="store_true", help="recompute activations to save memory")
    g.add_argument("--freeze-vision", action="store_true", help="train the text tower only")
    g.add_argument(
        "--init-logit-scale",
        type=float,
        help="start the learnable logit scale at this value (default: the model's, 1/0.07 when new); "
        "about 5 shortens the initial plateau of training from scratch",
    )
    g.add_argument("--augment", action="store_true", help="random crops of the training images")
    g.add_argument(
        "--context-length",
        type=int,
        help="tokens per text, up to the text tower's position table (512 for RoBERTa); stored with the "
        "checkpoint (default: the model's, 52)",
    )
    g.add_argument(
        "--multi-positive",
        action="store_true",
        help="pairs of a batch that share a text id or an image id are all positives (soft targets), "
        "for label-like data",
    )
    g.add_argument(
        "--patch-dropout",
        type=float,
        default=TRAIN["patch_dropout"],
        help="FLIP: drop this share [0, 1) of image patches in training steps" + DEFAULT,
    )


def _add_run_flags(r: argparse._ArgumentGroup) -> None:
    r.add_argument("--train-split", default=TRAIN["train_split"], help=DEFAULT.strip())
    r.add_argument("--val-split", default=TRAIN["val_split"], help=DEFAULT.strip())
    r.add_argument(
        "--val-every",
        type=int,
        help="validate every N steps (default: at each epoch end; 0 turns validation off)",
    )
    r.add_argument(
        "--save-every", type=int, default=TRAIN["save_every"], help="steps between saves of epoch_latest.pt" + DEFAULT
    )
    r.add_argument(
        "--save-epochs",
        type=int,
        default=TRAIN["save_epochs"],
        help="epochs between epoch_N.pt checkpoints (0: only epoch_latest.pt)" + DEFAULT,
    )
    r.add_argument("--log-every", type=int, default=TRAIN["log_every"], help="steps between metrics lines" + DEFAULT)
    r.add_argument(
        "--report-to",
        choices=REPORT_TARGETS,
        help="also log losses, lr, logit scale, throughput and validation recall to OUT/logs/tensorboard "
        "(needs the tensorboard package)",
    )
    r.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        type=Path,
        help="continue from a checkpoint (default: OUT/checkpoints/epoch_latest.pt)",
    )
    r.add_argument("--workers", type=int, default=TRAIN["workers"], help="data loading processes" + DEFAULT)
    r.add_argument("--skip-bad", action="store_true", help="skip unreadable records instead of failing")
    r.add_argument("--device", default=TRAIN["device"], help=DEFAULT.strip())
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--no-hf", action="store_true", help="skip the final Hugging Face directory OUT/hf")


def _from_args(settings: type, args: argparse.Namespace, prefix: str = "", **given):
    """`settings` (a dataclass) with every field that has a flag (`--PREFIX-FIELD`) taken from `args`."""
    names = [f.name for f in dataclasses.fields(settings) if f.name not in given and hasattr(args, prefix + f.name)]
    return settings(**{name: getattr(args, prefix + name) for name in names}, **given)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    optim = _from_args(OptimConfig, args)
    return _from_args(TrainConfig, args, optim=optim, progress=not args.no_progress, export_hf=not args.no_hf)


def _distill_config(args: argparse.Namespace) -> DistillConfig:
    return _from_args(DistillConfig, args, "kd_", teacher_cache=args.teacher_cache)


def run_train(args: argparse.Namespace) -> int:
    from ..train import ModelInit, train

    summary = train(ModelInit(args.model, args.arch), _train_config(args))
    _report(summary)
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from ..train import ModelInit, distill

    student = ModelInit(args.student, args.arch, ("--student", "--arch"))
    summary = distill(student, args.teacher, _train_config(args), _distill_config(args))
    _report(summary)
    return 0


def _report(summary: dict) -> None:
    if not summary:  # ranks other than 0 under torchrun
        return
    keys = (
        "run",
        "steps",
        "final_loss",
        "best_val_mean_recall",
        "steps_to_best_val",
        "wall_time_s",
        "samples_per_s",
        "peak_memory_mb",
        "checkpoint",
        "hf_dir",
    )
    print(json.dumps({k: summary.get(k) for k in keys}, ensure_ascii=False, indent=2))
