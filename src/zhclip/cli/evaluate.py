"""Evaluation commands: `zhclip eval retrieval | zeroshot | score` and `zhclip report`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .options import add_context_length_argument, add_precision_argument

if TYPE_CHECKING:
    from ..evaluate.features import Shard
    from ..models import ClipModel


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser("eval", help="evaluate models: retrieval recall, zero-shot, score files")
    commands = evaluate.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND", required=True)

    p = commands.add_parser(
        "retrieval", help="features, top-10 predictions and Chinese-CLIP recall, both ways (torchrun-ready)"
    )
    _add_model(p)
    p.add_argument("--data", required=True, help="dataset directory in the Chinese-CLIP layout")
    p.add_argument("--split", default="test")
    p.add_argument("--out", help="output directory (default: experiments/<name>/eval/<dataset>_<split>)")
    p.set_defaults(handler=retrieval)

    p = commands.add_parser(
        "zeroshot", help="zero-shot classification of an image folder: top-1/top-5 (torchrun-ready)"
    )
    _add_model(p)
    p.add_argument("--data", required=True, help="folder with <class index>/ subfolders (or test/<index>/)")
    p.add_argument("--labels", required=True, help="label_cn.txt: one class name per line")
    p.add_argument(
        "--templates",
        help="'default', or a file with one template per line using {} "
        "(default: DATA/templates.txt if present, else the default set)",
    )
    p.add_argument("--out", help="output directory (default: zeroshot_predictions/<name>)")
    p.set_defaults(handler=zeroshot)

    p = commands.add_parser("score", help="score a top-10 prediction file like Chinese-CLIP's evaluation.py")
    p.add_argument("gold", help="{split}_texts.jsonl (t2i) or {split}_texts.tr.jsonl (i2t)")
    p.add_argument("predictions")
    p.add_argument("out", help="metrics JSON to write (also written, with success false, on bad input)")
    p.add_argument("--direction", choices=("t2i", "i2t"), default="t2i")
    p.set_defaults(handler=score)

    p = subparsers.add_parser("report", help="Markdown table + PNG chart comparing models, from metrics files")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories searched for zhclip eval outputs")
    p.add_argument("--out", default="report.md", help="Markdown file; the chart goes next to it as .png")
    p.set_defaults(handler=report)


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="HF dir, hub id, zoo name, or Chinese-CLIP .pt/.pth checkpoint")
    p.add_argument("--arch", help="architecture of a .pt/.pth checkpoint (default: inferred)")
    p.add_argument("--name", help="model name in outputs and reports (default: from the model path)")
    add_precision_argument(p)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    add_context_length_argument(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad records instead of failing")


def _load(args: argparse.Namespace, device: str) -> ClipModel:
    from ..runtime import load

    if args.batch_size < 1:
        raise InputError(None, f"must be at least 1, got {args.batch_size}", field="--batch-size")
    options = {"runtime": args.runtime, "context_length": args.context_length}
    return load(args.model, device=device, precision=args.precision, arch=args.arch, **options)


@contextmanager
def processes(device: str) -> Iterator[tuple[Shard, str]]:
    """This process's shard and device: the torchrun process group when launched by torchrun (NCCL on GPUs,
    gloo on CPU), else one process doing everything on `device`."""
    from ..evaluate.features import Shard
    from ..train import distributed

    env = distributed.setup(device)
    try:
        yield Shard(env.rank, env.world_size), str(env.device) if env.distributed else device
    finally:
        distributed.teardown(env)


def _options(args: argparse.Namespace, shard: Shard, name: str) -> dict:
    """The keyword arguments every evaluation takes; rank 0 alone shows progress."""
    return {"progress": shard.is_main, "skip_bad": args.skip_bad, "name": name, "shard": shard}


def retrieval(args: argparse.Namespace) -> int:
    from ..evaluate.retrieval import default_model_name, evaluate_retrieval

    with processes(args.device) as (shard, device):
        model = _load(args, device)
        name = args.name or default_model_name(model.source)
        out = Path(args.out or f"experiments/{name}/eval/{Path(args.data).resolve().name}_{args.split}")
        start = time.perf_counter()
        result = evaluate_retrieval(model, args.data, args.split, out, args.batch_size, **_options(args, shard, name))
    if not shard.is_main:
        return 0
    print(
        f"{name} on {args.data} ({args.split}): {result['num_texts']} texts, {result['num_images']} images, "
        f"{time.perf_counter() - start:.1f}s"
    )
    for label in ("text_to_image", "image_to_text"):
        r = result[label]
        print(f"  {label:14} R@1 {r['r1']:6.2f}  R@5 {r['r5']:6.2f}  R@10 {r['r10']:6.2f}  MR {r['mean_recall']:6.2f}")
    if result.get("skipped"):
        print(f"  skipped {result['skipped']} bad record(s)")
    print(f"wrote {out}")
    return 0


def zeroshot(args: argparse.Namespace) -> int:
    from ..evaluate.retrieval import default_model_name
    from ..evaluate.zeroshot import evaluate_zeroshot

    with processes(args.device) as (shard, device):
        model = _load(args, device)
        name = args.name or default_model_name(model.source)
        out = Path(args.out or f"zeroshot_predictions/{name}")
        options = _options(args, shard, name)
        result = evaluate_zeroshot(model, args.data, args.labels, args.templates, out, args.batch_size, **options)
    if not shard.is_main:
        return 0
    print(
        f"{name} zero-shot on {args.data}: {result['num_images']} images, {result['num_classes']} classes, "
        f"{result['num_templates']} templates"
    )
    print(f"  top-1 {result['top1']:.2f}  top-5 {result['top5']:.2f}")
    if result["skipped"]:
        print(f"  skipped {result['skipped']} bad image(s)")
    print(f"wrote {out}")
    return 0


def score(args: argparse.Namespace) -> int:
    from ..evaluate.recall import DIRECTIONS, error_json, score_files
    from ..io import write_json
    from . import EXIT_USER_ERROR

    try:
        recall = score_files(args.gold, args.predictions, DIRECTIONS[args.direction])
    except InputError as exc:
        write_json(args.out, error_json(str(exc)))
        print(f"zhclip eval: error: {exc} (wrote {args.out})", file=sys.stderr)
        return EXIT_USER_ERROR
    write_json(args.out, recall.score_json())
    print(f"R@1 {recall.r1:.2f}  R@5 {recall.r5:.2f}  R@10 {recall.r10:.2f}  MR {recall.mean_recall:.2f}")
    print(f"wrote {args.out}")
    return 0


def report(args: argparse.Namespace) -> int:
    from ..evaluate.report import markdown_table, write_report

    written = write_report(args.run_dirs, args.out)
    print(markdown_table(written.table))
    print(f"wrote {written.markdown} and {written.chart}")
    return 0
