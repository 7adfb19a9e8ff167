"""Model commands: info, convert, encode."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from ..io import atomic_path
from .options import add_context_length_argument, add_precision_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="describe a model: architecture, parameters, embed dim, resolution")
    p.add_argument("source", help="HF dir, hub id, zoo name, or Chinese-CLIP .pt/.pth checkpoint")
    p.add_argument("--arch", help="architecture of a .pt/.pth checkpoint (default: inferred from shapes)")
    add_precision_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=info)

    p = subparsers.add_parser("convert", help="convert between HF directories and Chinese-CLIP .pt checkpoints")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--to", required=True, choices=["hf", "cnclip"])
    p.add_argument("--arch", help="architecture of a .pt/.pth source (default: inferred from shapes)")
    p.set_defaults(handler=convert)

    p = subparsers.add_parser(
        "encode",
        help="encode texts and images and print the cosine similarity matrix, or a dataset split into "
        "Chinese-CLIP feature files (--data; torchrun-ready)",
    )
    p.add_argument("--model", required=True)
    p.add_argument("--arch")
    p.add_argument("--text", action="append", default=[], help="a text (repeatable)")
    p.add_argument("--image", action="append", default=[], help="an image path (repeatable)")
    p.add_argument("--data", help="a dataset in the Chinese-CLIP layout: encode every image and text of --split")
    p.add_argument("--split", default="test", help="with --data (default test)")
    p.add_argument("--batch-size", type=int, default=64, help="with --data (default 64)")
    p.add_argument("--skip-bad", action="store_true", help="with --data: skip and count undecodable records")
    add_precision_argument(p)
    p.add_argument("--device", default="auto")
    add_context_length_argument(p)
    p.add_argument(
        "--out",
        help="write embeddings to this .npz file; with --data, the directory for "
        "{split}_imgs.img_feat.jsonl and {split}_texts.txt_feat.jsonl (required)",
    )
    p.set_defaults(handler=encode)


def info(args: argparse.Namespace) -> int:
    from ..models.model import param_counts
    from ..runtime import load

    model = load(args.source, device="cpu", precision=args.precision, arch=args.arch, runtime=args.runtime)
    facts = {
        "source": model.source,
        "architecture": model.arch,
        "parameters": model.num_params,
        "vision_parameters": param_counts(model.config)["vision"],
        "text_parameters": param_counts(model.config)["text"],
        "embed_dim": model.embed_dim,
        "image_resolution": model.image_size,
        "context_length": model.config.context_length,
        "vision": f"ViT width {model.config.vision.width}, {model.config.vision.layers} layers, "
        f"patch {model.config.vision.patch_size}",
        "text": f"BERT hidden {model.config.text.hidden_size}, {model.config.text.layers} layers, "
        f"{model.config.text.heads} heads",
        "precision": model.precision,
        "runs_on": ", ".join(f"{tower} {path}" for tower, path in model.paths.items()),
        "logit_scale": round(model.network.logit_scale.detach().exp().item(), 4),
    }
    if args.json:
        print(json.dumps(facts, ensure_ascii=False, indent=2))
    else:
        for key, value in facts.items():
            print(f"{key:18} {value:,}" if isinstance(value, int) else f"{key:18} {value}")
    return 0


def convert(args: argparse.Namespace) -> int:
    from ..models import convert as convert_model

    out = convert_model(args.src, args.dst, args.to, args.arch)
    print(f"wrote {out} ({'Hugging Face directory' if args.to == 'hf' else 'Chinese-CLIP checkpoint'})")
    return 0


def encode(args: argparse.Namespace) -> int:
    import numpy as np

    from ..runtime import load

    if args.data:
        return _encode_split(args)
    if not args.text and not args.image:
        raise InputError(None, "give at least one --text or --image, or --data")
    model = load(
        args.model,
        device=args.device,
        precision=args.precision,
        arch=args.arch,
        runtime=args.runtime,
        context_length=args.context_length,
    )
    texts = model.encode_texts(args.text) if args.text else np.zeros((0, model.embed_dim), np.float32)
    images = model.encode_images(args.image) if args.image else np.zeros((0, model.embed_dim), np.float32)
    if args.out:
        out = Path(args.out if str(args.out).endswith(".npz") else f"{args.out}.npz")  # the name np.savez gives
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, texts=texts, images=images)
        print(f"wrote {args.out}")
    if len(texts) and len(images):
        sims = model.similarity(images, texts)
        print("cosine similarity (rows: images, columns: texts)")
        for path, row in zip(args.image, sims, strict=True):
            print(f"{Path(path).name:30} " + " ".join(f"{s:7.4f}" for s in row))
    else:
        rows = texts if len(texts) else images
        for name, row in zip(args.text or args.image, rows, strict=True):
            print(f"{name[:30]:30} dim={row.shape[0]} first={np.round(row[:4], 4).tolist()}")
    return 0


def _encode_split(args: argparse.Namespace) -> int:
    from ..evaluate.retrieval import encode_split
    from ..runtime import load
    from .evaluate import processes

    if args.text or args.image or not args.out:
        raise InputError(
            None, "--data encodes a whole split into --out (a directory); drop --text/--image", field="--data"
        )
    if args.batch_size < 1:
        raise InputError(None, f"must be at least 1, got {args.batch_size}", field="--batch-size")
    with processes(args.device) as (shard, device):
        options = {"runtime": args.runtime, "context_length": args.context_length}
        model = load(args.model, device, args.precision, args.arch, **options)
        counts = encode_split(
            model, args.data, args.split, args.out, args.batch_size, shard.is_main, skip_bad=args.skip_bad, shard=shard
        )
    if shard.is_main:
        print(json.dumps(counts, ensure_ascii=False, indent=2))
    return 0
