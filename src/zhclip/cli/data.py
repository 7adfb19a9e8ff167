"""Data commands: `zhclip data lmdb | from-folder | synth`."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..data import BadRecords


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="datasets: LMDB build, import a folder, synthetic benchmark")
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    p = commands.add_parser(
        "lmdb",
        help="build lmdb/<split>/{imgs,pairs} from the tsv/jsonl files "
        "(same keys as Chinese-CLIP's build_lmdb_dataset.py)",
    )
    p.add_argument("dataset_dir")
    p.add_argument("--splits", default="train,valid,test", help="comma-separated (default: %(default)s)")
    _add_skip_bad(p)
    p.set_defaults(handler=lmdb)

    p = commands.add_parser("from-folder", help="images folder + captions (.csv/.jsonl) -> Chinese-CLIP layout")
    p.add_argument("images_dir")
    p.add_argument("captions", help="CSV with image,caption columns, or jsonl with image and caption(s)")
    p.add_argument("out_dir")
    p.add_argument("--split-ratio", default="0.8,0.1,0.1", help="train,valid,test (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-side", type=int, help="downscale larger images to this many pixels (JPEG)")
    _add_skip_bad(p)
    p.set_defaults(handler=from_folder)

    p = commands.add_parser("synth", help="generate the offline benchmark (coloured shapes, Chinese captions)")
    p.add_argument("out_dir")
    p.add_argument("--train", type=int, default=10000, help="images (default: %(default)s)")
    p.add_argument("--valid", type=int, default=1000, help="images (default: %(default)s)")
    p.add_argument("--test", type=int, default=1000, help="images (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--captions", type=int, default=5, help="captions per image (default: %(default)s)")
    p.add_argument("--max-objects", type=int, choices=(1, 2, 3), default=3)
    p.add_argument(
        "--twin-prob",
        type=float,
        default=0.35,
        help="chance an image is the binding twin of the previous one (default: %(default)s)",
    )
    p.add_argument("--noise", type=float, default=3.0, help="pixel noise std, 0-255 (default: %(default)s)")
    p.add_argument(
        "--zeroshot-per-class",
        type=int,
        default=0,
        help="also write OUT_DIR/zeroshot: a shape-classification image folder with N images per class",
    )
    p.set_defaults(handler=synth)


def _add_skip_bad(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad records instead of failing")


def _report_skipped(bad: BadRecords) -> None:
    if bad.count:
        print(f"skipped {bad.count} bad record(s); first: {bad.errors[0]}")


def lmdb(args: argparse.Namespace) -> int:
    from ..data import BadRecords, build_lmdb

    bad = BadRecords(args.skip_bad)
    for split in _splits(args.splits):
        stats = build_lmdb(args.dataset_dir, split, bad, progress=True)
        print(
            f"{split}: {stats.num_images} images, {stats.num_pairs} pairs -> "
            f"{args.dataset_dir}/lmdb/{split} ({stats.skipped} skipped)"
        )
    _report_skipped(bad)
    return 0


def from_folder(args: argparse.Namespace) -> int:
    from ..data import BadRecords
    from ..data.folder import from_folder as convert

    bad = BadRecords(args.skip_bad)
    stats = convert(
        args.images_dir,
        args.captions,
        args.out_dir,
        _floats(args.split_ratio),
        args.seed,
        bad,
        args.max_side,
        progress=True,
    )
    for s in stats:
        print(f"{s.split}: {s.images} images, {s.texts} texts")
    _report_skipped(bad)
    return 0


def synth(args: argparse.Namespace) -> int:
    import dataclasses

    from ..data.synth import DEFAULT_CONFIG, SynthOptions, generate, generate_zeroshot

    weights = DEFAULT_CONFIG.object_count_weights[: args.max_objects]
    options = SynthOptions(
        captions_per_image=args.captions,
        twin_prob=args.twin_prob,
        noise=args.noise,
        scene=dataclasses.replace(DEFAULT_CONFIG, object_count_weights=weights),
    )
    start = time.perf_counter()
    stats = generate(
        args.out_dir, args.train, args.valid, args.test, args.seed, args.image_size, options, progress=True
    )
    for s in stats:
        print(
            f"{s.split}: {s.images} images ({s.twins} binding twins), {s.texts} texts, {s.pairs} pairs, "
            f"{s.pairs / max(s.texts, 1):.2f} gold images per text, {s.single_gold_texts} texts with one gold"
            + (f", {s.vague_dropped} too-vague captions left out" if s.vague_dropped else "")
        )
    if args.zeroshot_per_class:
        path = generate_zeroshot(
            f"{args.out_dir}/zeroshot", args.zeroshot_per_class, args.seed, args.image_size, options
        )
        print(f"zero-shot set: {path} ({args.zeroshot_per_class} images per class)")
    print(f"wrote {args.out_dir} in {time.perf_counter() - start:.1f}s")
    return 0


def _splits(text: str) -> list[str]:
    splits = [s.strip() for s in text.split(",") if s.strip()]
    if not splits:
        raise InputError(None, "no splits given", field="--splits")
    return splits


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise InputError(None, f"expected comma-separated numbers, got {text!r}", field="--split-ratio") from None
