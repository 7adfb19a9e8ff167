"""Commands that make a model smaller or faster to run: `export onnx|executorch|mnn|coreml`, `compress prune`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_export(subparsers)
    _register_prune(subparsers)


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
    for target, what in MOBILE_TARGETS.items():
        _register_mobile(formats.add_parser(target, help=what), fixed_batch=target == "executorch")


MOBILE_TARGETS = {
    "executorch": "towers as ExecuTorch .pte files (XNNPACK) for phones and ARM boards, with manifest.json",
    "mnn": "towers as MNN .mnn files for phones and ARM boards, with manifest.json",
    "coreml": "towers as Core ML .mlpackage for iOS/macOS, with manifest.json (checked here, not run)",
}


def _register_mobile(p: argparse.ArgumentParser, fixed_batch: bool) -> None:
    p.add_argument("model", help="HF dir, hub id, zoo name or Chinese-CLIP .pt/.pth checkpoint")
    p.add_argument("out_dir", type=Path, help="directory to write: the towers, manifest.json and vocab.txt")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"), help="default fp32")
    p.add_argument("--towers", default="image,text", help="comma-separated towers to write (default image,text)")
    if fixed_batch:
        p.add_argument("--batch", type=int, default=1, help="the image tower's batch, fixed in its file (default 1)")
    p.add_argument("--force", action="store_true", help="keep towers whose cosine to fp32 misses the bar (marked so)")
    p.add_argument("--arch", help="architecture of a .pt/.pth checkpoint (default: inferred from shapes)")
    p.set_defaults(handler=run_mobile_export, batch=1)


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


def run_export(args: argparse.Namespace) -> int:
    from ..runtime.onnx_export import export_onnx

    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    out = export_onnx(args.model, args.out_dir, precisions, arch=args.arch)
    files = sorted(f for f in out.iterdir() if f.suffix == ".onnx")
    for f in files:
        print(f"{f.name:20} {f.stat().st_size / 2**20:9.1f} MB")
    print(f"wrote {out} (load it with zhclip.load({str(out)!r}))")
    return 0


def run_mobile_export(args: argparse.Namespace) -> int:
    from ..runtime.export import ExportOptions, export_mobile

    towers = tuple(t.strip() for t in args.towers.split(",") if t.strip())
    options = ExportOptions(args.precision, towers, args.batch, args.force, args.arch)
    out = export_mobile(args.format, args.model, args.out_dir, options)
    manifest = json.loads((out / "manifest.json").read_text())
    for tower, entry in manifest["towers"].items():
        cosine = entry["fidelity"]["cosine_to_fp32"]
        measured = f"cosine {cosine:.5f} to fp32" if cosine is not None else entry["fidelity"]["not_run"]
        print(f"{tower:6} {entry['file']:24} {entry['bytes'] / 2**20:8.1f} MB  {measured}")
    print(f"wrote {out} (manifest.json says how to feed the towers)")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from ..prune.model import PruneOptions, RecoverOptions, prune_model

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
