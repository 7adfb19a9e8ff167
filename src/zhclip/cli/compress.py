"""Compression commands: `export onnx`, `compress prune`, `bench encode`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import InputError
from ..io import write_json

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_export(subparsers)
    _register_prune(subparsers)
    _register_bench(subparsers)


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a model to another runtime")
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    e = formats.add_parser("onnx", help="image and text towers as ONNX files with a dynamic batch axis")
    e.add_argument("model", help="HF dir, hub id, zoo name or Chinese-CLIP .pt/.pth checkpoint")
    e.add_argument("out_dir", type=Path, help="directory to write (zhclip.load(OUT_DIR) runs it)")
    e.add_argument(
        "--precision",
        default="fp32,fp16,int8",
        help="comma-separated ONNX precisions to write: fp32, fp16, int8 (default all)",
    )
    e.add_argument("--arch", help="architecture of a .pt/.pth checkpoint (default: inferred from shapes)")
    e.set_defaults(handler=run_export)


def _register_prune(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compress", help="make a model smaller")
    methods = p.add_subparsers(dest="method", metavar="METHOD", required=True)
    c = methods.add_parser("prune", help="structured pruning of attention heads and MLP neurons, both towers")
    c.add_argument("model", help="HF dir, hub id, zoo name or Chinese-CLIP .pt/.pth checkpoint")
    c.add_argument("--out", required=True, type=Path, help="directory to write: model.pt and prune.json")
    c.add_argument("--ratio", type=float, default=0.3, help="share of heads and MLP neurons removed per layer")
    c.add_argument(
        "--data",
        type=Path,
        help="dataset (Chinese-CLIP layout) to calibrate on and to recover with; "
        "default: synthetic scenes for calibration",
    )
    c.add_argument("--calibration", type=int, default=32, help="image-text pairs that score importance")
    c.add_argument("--recover", action="store_true", help="distil the pruned model from the unpruned one on --data")
    c.add_argument("--recover-steps", type=int, default=300)
    c.add_argument("--recover-batch-size", type=int, default=32)
    c.add_argument("--recover-lr", type=float, default=1e-4)
    c.add_argument("--arch", help="architecture of a .pt/.pth checkpoint (default: inferred from shapes)")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(handler=run_prune)


def _register_bench(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="benchmarks")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    b = kinds.add_parser("encode", help="encoding speed, memory, size and fidelity of every precision/runtime")
    b.add_argument("--model", help="the model to measure (PyTorch source: HF dir, .pt, hub id)")
    b.add_argument("--random-arch", help="measure random weights of this architecture instead (e.g. ViT-B-16)")
    b.add_argument(
        "--precision",
        help="comma-separated paths, e.g. transformers-fp32,fp32,bf16,int8,onnx-fp32,onnx-int8,openvino-bf16,"
        "openvino-int8,auto (default: all this machine runs; onnx-* need zhclip[onnx], openvino-* zhclip[openvino] "
        "too); the torch fp32 baseline always runs",
    )
    b.add_argument("--baseline", help="another model whose torch fp32 run is the baseline (e.g. the unpruned one)")
    b.add_argument("--onnx", help="an existing `zhclip export onnx` directory of --model (skips the export)")
    b.add_argument("--rounds", type=int, help="rounds over all paths; medians are reported (default 2, quick 1)")
    b.add_argument("--quick", action="store_true", help="few repetitions: a smoke test, not a measurement")
    b.add_argument("--json", type=Path, help="also write the results here")
    b.set_defaults(handler=run_bench)


def run_export(args: argparse.Namespace) -> int:
    from ..runtime.onnx_export import export_onnx

    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    out = export_onnx(args.model, args.out_dir, precisions, arch=args.arch)
    files = sorted(f for f in out.iterdir() if f.suffix == ".onnx")
    for f in files:
        print(f"{f.name:20} {f.stat().st_size / 2**20:9.1f} MB")
    print(f"wrote {out} (load it with zhclip.load({str(out)!r}))")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from ..compress.prune_model import PruneOptions, RecoverOptions, prune_model

    recover = None
    if args.recover:
        recover = RecoverOptions(steps=args.recover_steps, batch_size=args.recover_batch_size, lr=args.recover_lr)
    options = PruneOptions(
        ratio=args.ratio, data=args.data, calibration=args.calibration, recover=recover, seed=args.seed
    )
    report = prune_model(args.model, args.out, options, arch=args.arch, recover=recover_by_distillation)
    before, after, cut = report["before"], report["after"], report["reduction"]
    print(f"{'':18} {'before':>15} {'after':>15} {'reduction':>10}")
    for key in ("parameters", "vision_parameters", "text_parameters", "image_flops", "text_flops"):
        print(f"{key:18} {before[key]:15,} {after[key]:15,} {cut[key]:10.1%}")
    print(f"wrote {args.out / report['model']}" + (" (recovered by distillation)" if report["recovered"] else ""))
    return 0


def recover_by_distillation(student: Path, teacher: str, options, run_dir: Path) -> Path:
    """Distil the pruned `student` from the unpruned `teacher` (the short run of `--recover`)."""
    from ..train.api import ModelInit, distill
    from ..train.config import DistillConfig, OptimConfig, TrainConfig

    rec = options.recover
    cfg = TrainConfig(
        data=Path(options.data),
        out=run_dir,
        batch_size=rec.batch_size,
        max_steps=rec.steps,
        optim=OptimConfig(lr=rec.lr, warmup=rec.warmup),
        seed=options.seed,
        val_every=0,
        progress=False,
        export_hf=False,  # a pruned model has no Hugging Face config
    )
    summary = distill(ModelInit(source=str(student), flags=("--model", "--arch")), teacher, cfg, DistillConfig())
    log.info("recovery: %s steps, final loss %s", summary.get("steps"), summary.get("final_loss"))
    return Path(summary["checkpoint"])


def run_bench(args: argparse.Namespace) -> int:
    from ..compress.bench import (
        BenchSettings,
        available_paths,
        bench_encode,
        format_roofline,
        format_table,
        path_names,
    )
    from ..extras import installed_extras

    extras = installed_extras()
    if args.precision:
        names = args.precision.split(",")
    else:
        names = available_paths(onnx=extras["onnx"], openvino=extras["onnx"] and extras["openvino"])
    paths = path_names([p for p in map(str.strip, names) if p])
    if args.baseline is None:
        paths = [p for p in paths if p != "torch-fp32"]  # the baseline is this path
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 2)
    if rounds < 1:
        raise InputError(None, f"must be at least 1, got {rounds}", field="--rounds")
    result = bench_encode(
        args.model,
        paths,
        BenchSettings(quick=args.quick, rounds=rounds),
        random_arch=args.random_arch,
        baseline=args.baseline,
        onnx_dir=args.onnx,
    )
    print(result["machine"])
    print(f"weights: {result['weights']}; {rounds} round(s), medians; (Nx) = ratio to the baseline of the same round")
    print(format_table(result))
    print(format_roofline(result))
    if args.json:
        write_json(args.json, result)
    return 0
