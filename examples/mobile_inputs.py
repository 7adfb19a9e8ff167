"""What both reference programs share: read an export's manifest.json (checking it matches its files), turn
images and texts into tower inputs exactly as the manifest describes, and print embeddings as JSON.

No zhclip import: an app on a phone or board has only the export directory, Pillow, numpy, `tokenizers` and the
runtime's own package."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

FORMAT = "zhclip-mobile"
FIELDS = ("runtime", "towers", "image_preprocessing", "tokenizer", "output")
TOWER_FIELDS = ("file", "sha256", "inputs", "outputs", "batch")
Runner = Callable[[np.ndarray], np.ndarray]  # tower input batch -> output rows


class ManifestError(Exception):
    """The export directory is not what its manifest.json says."""


def read_manifest(export_dir: Path, runtime: str) -> dict:
    path = export_dir / "manifest.json"
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest.json (is {export_dir} a zhclip export directory?)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    missing = [f for f in FIELDS if f not in manifest]
    missing += [
        f"towers.{t}.{f}" for t, entry in manifest.get("towers", {}).items() for f in TOWER_FIELDS if f not in entry
    ]
    if missing:
        raise ManifestError(f"{path}: field {missing[0]!r} is missing")
    if manifest["runtime"]["name"] != runtime:
        raise ManifestError(f"{path}: an export for {manifest['runtime']['name']}, not {runtime}")
    for tower, entry in manifest["towers"].items():
        check_file(export_dir / entry["file"], entry["sha256"], f"{path} (towers.{tower}.file)")
    if not (export_dir / manifest["tokenizer"]["vocab"]).is_file():
        raise ManifestError(f"{path}: vocabulary {manifest['tokenizer']['vocab']} is missing")
    return manifest


def check_file(file: Path, sha256: str, where: str) -> None:
    if not file.exists():
        raise ManifestError(f"{where}: {file.name} is missing")
    digest = hashlib.sha256()
    for part in sorted(p for p in file.rglob("*") if p.is_file()) if file.is_dir() else [file]:
        if file.is_dir():
            digest.update(str(part.relative_to(file)).encode())
        digest.update(part.read_bytes())
    if digest.hexdigest() != sha256:
        raise ManifestError(f"{where}: {file.name} does not match the manifest's sha256 (changed or truncated)")


def pixels(manifest: dict, image_paths: list[Path]) -> np.ndarray:
    """(N, 3, size, size) float32: RGB, square bicubic resize, /255, minus mean, over std."""
    prep = manifest["image_preprocessing"]
    size, mean, std = prep["size"], np.array(prep["mean"], np.float32), np.array(prep["std"], np.float32)
    rows = []
    for path in image_paths:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        rows.append(((np.asarray(rgb, np.float32) / 255.0 - mean) / std).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(rows))


def token_ids(manifest: dict, export_dir: Path, texts: list[str], dtype: str) -> np.ndarray:
    """(N, context_length) ids: [CLS] + word pieces (cut to fit) + [SEP], then the pad id."""
    from tokenizers import BertWordPieceTokenizer

    spec = manifest["tokenizer"]
    tokenizer = BertWordPieceTokenizer(
        str(export_dir / spec["vocab"]),
        lowercase=spec["lowercase"],
        handle_chinese_chars=spec["split_chinese_characters"],
    )
    length = spec["context_length"]
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    out = np.full((len(texts), length), spec["pad_id"], dtype=dtype)
    for row, text in enumerate(texts):
        ids = [cls_id, *tokenizer.encode(text, add_special_tokens=False).ids[: length - 2], sep_id]
        out[row, : len(ids)] = ids
    return out


def in_batches(run: Runner, entry: dict, inputs: np.ndarray) -> np.ndarray:
    """Run `inputs` whole (dynamic batch) or in the file's fixed batch, the last one filled with copies."""
    if entry["batch"]["dynamic"]:
        return run(inputs)
    size, out = entry["batch"]["size"], []
    for start in range(0, len(inputs), size):
        chunk = inputs[start : start + size]
        filled = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])
        out.append(run(filled)[: len(chunk)])
    return np.concatenate(out)


def unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def main(runtime: str, load_tower: Callable[[Path, dict], Runner], argv: list[str] | None = None) -> int:
    """Parse the command line, encode, print {"images": {path: embedding}, "texts": {text: embedding}}."""
    parser = argparse.ArgumentParser(description=f"Encode images and texts with a zhclip {runtime} export.")
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--image", action="append", default=[], type=Path, help="an image file (repeatable)")
    parser.add_argument("--text", action="append", default=[], help="a text (repeatable)")
    args = parser.parse_args(argv)
    try:
        manifest = read_manifest(args.export_dir, runtime)
        result = {"images": {}, "texts": {}}
        jobs = (("image", args.image, "images"), ("text", args.text, "texts"))
        for tower, items, key in jobs:
            if not items:
                continue
            if tower not in manifest["towers"]:
                raise ManifestError(f"{args.export_dir}: this export has no {tower} tower")
            entry = manifest["towers"][tower]
            dtype = entry["inputs"][0]["dtype"]
            inputs = pixels(manifest, items) if tower == "image" else token_ids(manifest, args.export_dir, items, dtype)
            run = load_tower(args.export_dir / entry["file"], entry)
            rows = unit_rows(in_batches(run, entry, inputs.astype(dtype)))
            result[key] = {str(item): row.round(6).tolist() for item, row in zip(items, rows, strict=True)}
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0
