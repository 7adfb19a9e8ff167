"""Turn a folder of images plus a captions file into the Chinese-CLIP layout (`zhclip data from-folder`).

Captions: a CSV with a header naming an image column (`image`, `file`, `path` or `filename`) and a text
column (`caption` or `text`), or a jsonl with `{"image": ..., "caption": ...}` (or `"captions": [...]`).
Image paths are relative to the images folder; an image may have many captions. Images are split at random
(seeded) by `split_ratio`; identical captions within a split become one text with several gold images.
Also writes `image_paths.tsv` (image_id TAB relative path)."""

from __future__ import annotations

import base64
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import InputError
from ..io import staged_directory
from ..media import load_image
from .formats import SPLITS, TextRecord, encode_image_b64, write_texts, write_tsv
from .io import BadRecords, iter_json_lines

IMAGE_COLUMNS = ("image", "file", "path", "filename")
TEXT_COLUMNS = ("caption", "text")


@dataclass(frozen=True)
class FolderStats:
    split: str
    images: int
    texts: int


def read_captions(path: str | Path, bad: BadRecords) -> Iterator[tuple[int, str, str]]:
    """(line, image path, caption) from a CSV or jsonl captions file."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        yield from _csv_captions(path, bad)
    elif path.suffix.lower() in (".jsonl", ".json"):
        yield from _jsonl_captions(path, bad)
    else:
        raise InputError(path, "captions must be a .csv or .jsonl file")


def _csv_captions(path: Path, bad: BadRecords) -> Iterator[tuple[int, str, str]]:
    if not path.is_file():
        raise InputError(path, "no such file")
    with open(path, encoding="utf-8-sig", newline="") as fin:
        reader = csv.DictReader(fin)
        columns = reader.fieldnames or []
        image_col = next((c for c in IMAGE_COLUMNS if c in columns), None)
        text_col = next((c for c in TEXT_COLUMNS if c in columns), None)
        if image_col is None or text_col is None:
            raise InputError(
                path,
                f"header {columns} needs an image column ({'/'.join(IMAGE_COLUMNS)}) and a "
                f"caption column ({'/'.join(TEXT_COLUMNS)})",
                line=1,
            )
        for row in reader:
            image, text = (row.get(image_col) or "").strip(), (row.get(text_col) or "").strip()
            if not image or not text:
                bad.handle(InputError(path, "empty image or caption", line=reader.line_num))
                continue
            yield reader.line_num, image, text


def _jsonl_captions(path: Path, bad: BadRecords) -> Iterator[tuple[int, str, str]]:
    for line, obj in iter_json_lines(path, bad):
        image = obj.get("image") if isinstance(obj, dict) else None
        texts = obj.get("captions", [obj.get("caption", obj.get("text"))]) if isinstance(obj, dict) else None
        if (
            not isinstance(image, str)
            or not isinstance(texts, list)
            or not all(isinstance(t, str) and t.strip() for t in texts)
        ):
            bad.handle(InputError(path, 'expected {"image": str, "caption": str} or "captions": [str, ...]', line=line))
            continue
        for text in texts:
            yield line, image, text.strip()


def from_folder(
    images_dir: str | Path,
    captions: str | Path,
    out_dir: str | Path,
    split_ratio: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    bad: BadRecords | None = None,
    max_side: int | None = None,
    progress: bool = False,
) -> list[FolderStats]:
    """Write `{split}_imgs.tsv`, `{split}_texts.jsonl` and `image_paths.tsv` into `out_dir`."""
    images_dir, out = Path(images_dir), Path(out_dir)
    if not images_dir.is_dir():
        raise InputError(images_dir, "not a directory")
    ratios = _ratios(split_ratio)
    bad = bad or BadRecords()
    by_image = _captions_by_image(images_dir, captions, bad)
    paths = sorted(by_image)
    image_ids = {p: i for i, p in enumerate(paths, start=1)}
    assignment = _assign_splits(len(paths), ratios, seed)
    stats, next_text = [], 1
    with staged_directory(out) as staging:  # a failure part-way leaves `out` as it was
        for code, split in enumerate(SPLITS):
            members = [p for p, s in zip(paths, assignment, strict=True) if s == code]
            if not members:
                continue
            good = _write_images(staging / f"{split}_imgs.tsv", images_dir, members, image_ids, bad, max_side, progress)
            records = _merge_captions([(image_ids[p], t) for p in good for t in by_image[p]], next_text)
            next_text += len(records)
            write_texts(staging / f"{split}_texts.jsonl", records)
            stats.append(FolderStats(split, len(good), len(records)))
        write_tsv(staging / "image_paths.tsv", ((image_ids[p], p.encode("utf-8")) for p in paths))
    return stats


def _ratios(split_ratio: Sequence[float]) -> np.ndarray:
    ratios = np.asarray(split_ratio, dtype=float)
    if len(ratios) != len(SPLITS) or (ratios < 0).any() or ratios.sum() <= 0:
        raise InputError(
            None, f"need three non-negative ratios (train,valid,test), got {list(split_ratio)}", field="--split-ratio"
        )
    return ratios / ratios.sum()


def _captions_by_image(images_dir: Path, captions: str | Path, bad: BadRecords) -> dict[str, list[str]]:
    by_image: dict[str, list[str]] = {}
    for line, image, text in read_captions(captions, bad):
        if not (images_dir / image).is_file():
            bad.handle(InputError(captions, f"image {image!r} not found in {images_dir}", line=line, field="image"))
            continue
        by_image.setdefault(Path(image).as_posix(), []).append(text)
    if not by_image:
        raise InputError(captions, "no usable captions")
    return by_image


def _assign_splits(count: int, ratios: np.ndarray, seed: int) -> np.ndarray:
    """Split code per image: a seeded shuffle cut at the cumulative ratios."""
    order = np.random.default_rng(seed).permutation(count)
    cuts = np.round(np.cumsum(ratios) * count).astype(int)
    codes = np.searchsorted(cuts, np.arange(count), side="right")
    out = np.empty(count, dtype=int)
    out[order] = codes
    return out


def _write_images(
    out: Path,
    images_dir: Path,
    members: list[str],
    image_ids: dict[str, int],
    bad: BadRecords,
    max_side: int | None,
    progress: bool,
) -> list[str]:
    """Check each image decodes, store its bytes (or, with `max_side`, a downscaled JPEG). Returns the good ones."""
    good: list[str] = []

    def rows() -> Iterator[tuple[int, str]]:
        for rel in tqdm(members, desc=out.name, unit="img", disable=not progress):
            try:
                encoded = _encode_file(images_dir / rel, max_side)
            except InputError as exc:
                bad.handle(exc)
                continue
            good.append(rel)
            yield image_ids[rel], encoded

    write_tsv(out, rows())
    return good


def _encode_file(path: Path, max_side: int | None) -> str:
    """The file's own bytes, unless it needs an EXIF rotation or a downscale: then a re-encoded JPEG."""
    loaded = load_image(path)  # decodes (so bad files fail here) and applies the EXIF orientation
    image, rotated = loaded.image, loaded.orientation != 1
    too_big = bool(max_side) and max(image.size) > max_side
    if not rotated and not too_big:
        return base64.b64encode(path.read_bytes()).decode("ascii")
    if too_big:
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return encode_image_b64(image.convert("RGB"), "JPEG", quality=90)


def _merge_captions(pairs: list[tuple[int, str]], first_text_id: int) -> list[TextRecord]:
    merged: dict[str, list[int]] = {}
    for image_id, text in pairs:
        ids = merged.setdefault(text, [])
        if image_id not in ids:
            ids.append(image_id)
    return [TextRecord(first_text_id + k, text, tuple(ids)) for k, (text, ids) in enumerate(merged.items())]
