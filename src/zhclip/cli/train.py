"""`zhclip train` and `zhclip distill` (both also run under `torchrun --nproc_per_node N -m zhclip ...`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..choices import AMP_MODES


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
    kd.add_argument("--kd-contrastive", type=float, default=1.0, help="student's own InfoNCE (default 1.0)")
    kd.add_argument(
        "--kd-kl",
        type=float,
        default=1.0,
        help="KL of teacher/student similarity distributions, both directions (default 1.0)",
    )
    kd.add_argument("--kd-temperature", type=float, default=4.0, help="temperature of the KL term (default 4.0)")
    kd.add_argument("--kd-feature", type=float, default=1.0, help="feature alignment, both towers (default 1.0)")
    kd.add_argument("--kd-feature-loss", choices=["cosine", "mse"], default="cosine")
    kd.add_argument(
        "--kd-interactive",
        type=float,
        default=1.0,
        help="interactive contrastive: student image vs teacher text and back (default 1.0)",
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
    g.add_argument("--batch-size", type=int, default=128, help="pairs per process per micro-batch (default 128)")
    g.add_argument(
        "--accum-freq",
        type=int,
        default=1,
        help="micro-batches per step; all of them serve as negatives (default 1)",
    )
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--max-steps", type=int, help="stop after this many steps (overrides --epochs)")
    g.add_argument("--lr", type=float, default=5e-5)
    g.add_argument(
        "--wd",
        type=float,
        default=0.001,
        help="AdamW weight decay (not on norms, biases, embeddings, logit scale)",
    )
    g.add_argument("--warmup", type=int, default=100, help="linear warmup steps before the cosine decay")
    g.add_argument("--grad-clip", type=float, help="clip the gradient norm to this value")
    g.add_argument("--precision", choices=AMP_MODES, default="fp32", help="autocast mode of the steps (default fp32)")
    g.add_argument("--seed", type=int, default=0)
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
        default=0.0,
        help="FLIP: drop this share [0, 1) of image patches in training steps (default 0)",
    )


def _add_run_flags(r: argparse._ArgumentGroup) -> None:
    r.add_argument("--train-split", default="train")
    r.add_argument("--val-split", default="valid")
    r.add_argument(
        "--val-every",
        type=int,
        help="validate every N steps (default: at each epoch end; 0 turns validation off)",
    )
    r.add_argument("--save-every", type=int, default=200, help="steps between saves of epoch_latest.pt")
    r.add_argument(
        "--save-epochs", type=int, default=1, help="epochs between epoch_N.pt checkpoints (0: only epoch_latest.pt)"
    )
    r.add_argument("--log-every", type=int, default=10, help="steps between metrics lines")
    r.add_argument(
        "--report-to",
        choices=["tensorboard"],
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
    r.add_argument("--workers", type=int, default=0, help="data loading processes")
    r.add_argument("--skip-bad", action="store_true", help="skip unreadable records instead of failing")
    r.add_argument("--device", default="auto")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--no-hf", action="store_true", help="skip the final Hugging Face directory OUT/hf")


def _train_config(args: argparse.Namespace):
    from ..train import OptimConfig, TrainConfig

    return TrainConfig(
        data=args.data,
        out=args.out,
        batch_size=args.batch_size,
        accum_freq=args.accum_freq,
        epochs=args.epochs,
        max_steps=args.max_steps,
        optim=OptimConfig(lr=args.lr, wd=args.wd, warmup=args.warmup, grad_clip=args.grad_clip),
        precision=args.precision,
        seed=args.seed,
        grad_checkpointing=args.grad_checkpointing,
        freeze_vision=args.freeze_vision,
        init_logit_scale=args.init_logit_scale,
        augment=args.augment,
        context_length=args.context_length,
        multi_positive=args.multi_positive,
        patch_dropout=args.patch_dropout,
        report_to=args.report_to,
        train_split=args.train_split,
        val_split=args.val_split,
        val_every=args.val_every,
        save_every=args.save_every,
        save_epochs=args.save_epochs,
        log_every=args.log_every,
        workers=args.workers,
        skip_bad=args.skip_bad,
        device=args.device,
        resume=args.resume,
        progress=not args.no_progress,
        export_hf=not args.no_hf,
    )


def run_train(args: argparse.Namespace) -> int:
    from ..train import ModelInit, train

    summary = train(ModelInit(args.model, args.arch), _train_config(args))
    _report(summary)
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from ..train import DistillConfig, ModelInit, distill

    kd = DistillConfig(
        contrastive=args.kd_contrastive,
        kl=args.kd_kl,
        temperature=args.kd_temperature,
        feature=args.kd_feature,
        feature_loss=args.kd_feature_loss,
        interactive=args.kd_interactive,
        teacher_cache=args.teacher_cache,
    )
    summary = distill(
        ModelInit(args.student, args.arch, ("--student", "--arch")), args.teacher, _train_config(args), kd
    )
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
