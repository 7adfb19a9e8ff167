"""Write the synthetic benchmark in the Chinese-CLIP layout.

Per split: `{split}_imgs.tsv`, `{split}_texts.jsonl`, and `{split}_scenes.jsonl` (each image's scene, so
anyone can check captions against images); plus `synth.json` with the settings and statistics.
Every image's scene and captions come from a generator seeded by (seed, split, index): the output depends
only on the arguments. In valid/test, a caption's `image_ids` are *all* images of the split it is true of
(partial captions have several gold images); in train, only its own image."""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...errors import InputError
from ...io import atomic_path, staged_directory, write_json, write_jsonl
from ..formats import SPLITS, TextRecord, encode_image_b64, write_texts, write_tsv
from .captions import SHAPE_WORDS, Caption, describe
from .facts import SceneTable, all_hold
from .render import render_scene
from .scene import DEFAULT_CONFIG, SHAPES, Scene, SceneConfig, binding_twin, sample_scene

SPLIT_CODES = {split: code for code, split in enumerate(SPLITS)}
MAX_WORKERS = 8
PARALLEL_FROM = 2000  # images; below this a process pool costs more than it saves


@dataclass(frozen=True)
class SynthOptions:
    image_size: int = 96
    captions_per_image: int = 5
    twin_prob: float = 0.35  # chance that an image is the binding twin of the image before it
    noise: float = 3.0  # std of Gaussian pixel noise, 0-255 scale
    jpeg_quality: int = 92
    max_gold_fraction: float = 0.01  # valid/test: drop captions true of more images (min 3): too vague to rank
    scene: SceneConfig = DEFAULT_CONFIG


@dataclass
class _NextIds:
    image: int = 1
    text: int = 1


@dataclass(frozen=True)
class SplitStats:
    split: str
    images: int
    texts: int
    pairs: int
    twins: int
    single_gold_texts: int
    vague_dropped: int
    caption_kinds: dict[str, int]


def generate(
    out_dir: str | Path,
    train: int,
    valid: int,
    test: int,
    seed: int,
    image_size: int = 96,
    options: SynthOptions | None = None,
    progress: bool = False,
) -> list[SplitStats]:
    """Generate the three splits into `out_dir` (created if missing). Returns per-split statistics."""
    options = dataclasses.replace(options or SynthOptions(), image_size=image_size)
    _check(options, {"--train": train, "--valid": valid, "--test": test})
    stats = []
    next_ids = _NextIds()  # ids are unique across the splits
    with staged_directory(out_dir) as staging:  # an interrupted run leaves `out_dir` as it was
        for split, count in zip(SPLITS, (train, valid, test), strict=True):
            if count > 0:
                stats.append(_write_split(staging, split, count, seed, options, next_ids, progress))
        write_json(
            staging / "synth.json",
            {"seed": seed, "options": dataclasses.asdict(options), "splits": [dataclasses.asdict(s) for s in stats]},
        )
    return stats


def _check(options: SynthOptions, counts: dict[str, int]) -> None:
    problems = {flag: f"must be >= 0, got {n}" for flag, n in counts.items() if n < 0}
    if options.image_size < 16:
        problems["--image-size"] = f"must be at least 16, got {options.image_size}"
    if options.captions_per_image < 1:
        problems["--captions"] = f"must be at least 1, got {options.captions_per_image}"
    if not 0 <= options.twin_prob <= 1:
        problems["--twin-prob"] = f"must be in [0, 1], got {options.twin_prob}"
    if options.noise < 0:
        problems["--noise"] = f"must be >= 0, got {options.noise}"
    if problems:
        flag, reason = next(iter(problems.items()))
        raise InputError(None, reason, field=flag)


def split_scenes(seed: int, split: str, count: int, options: SynthOptions) -> Iterator[tuple[Scene, bool]]:
    """(scene, is_twin) for each image of a split. A twin is a binding twin of the image before it."""
    previous: Scene | None = None
    for index in range(count):
        rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
        twin = binding_twin(previous, rng) if previous is not None and rng.random() < options.twin_prob else None
        scene = twin or sample_scene(rng, options.scene)
        previous = None if twin else scene  # never a twin of a twin
        yield scene, twin is not None


def _write_split(
    out: Path, split: str, count: int, seed: int, options: SynthOptions, next_ids: _NextIds, progress: bool
) -> SplitStats:
    scenes, twin_flags = zip(*split_scenes(seed, split, count, options), strict=True)
    captions = [
        describe(scene, np.random.default_rng([seed, SPLIT_CODES[split], index, 1]), options.captions_per_image)
        for index, scene in enumerate(scenes)
    ]
    first_image = next_ids.image
    next_ids.image += count
    encoded = _encode_images(scenes, options, progress, desc=f"synth {split}")
    write_tsv(out / f"{split}_imgs.tsv", zip(range(first_image, first_image + count), encoded, strict=True))
    records, dropped = _text_records(
        split, list(scenes), captions, first_image, next_ids, max(3, math.ceil(options.max_gold_fraction * count))
    )
    write_texts(out / f"{split}_texts.jsonl", records)
    write_jsonl(
        out / f"{split}_scenes.jsonl", ({"image_id": first_image + i, **s.to_dict()} for i, s in enumerate(scenes))
    )
    kinds = Counter(c.kind for per_image in captions for c in per_image)
    return SplitStats(
        split,
        count,
        len(records),
        sum(len(r.image_ids) for r in records),
        sum(twin_flags),
        sum(len(r.image_ids) == 1 for r in records),
        dropped,
        dict(sorted(kinds.items())),
    )


def _encode_images(scenes: Sequence[Scene], options: SynthOptions, progress: bool, desc: str) -> Iterator[str]:
    """Rendered JPEGs as base64, in order; large splits are rendered by a pool of processes."""
    render = partial(_render_b64, options=options)
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    bar = partial(tqdm, total=len(scenes), desc=desc, unit="img", disable=not progress)
    if workers < 2 or len(scenes) < PARALLEL_FROM:
        yield from bar(map(render, scenes))
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from bar(pool.map(render, scenes, chunksize=64))


def _render_b64(scene: Scene, options: SynthOptions) -> str:
    image = render_scene(scene, (options.image_size, options.image_size), noise=options.noise)
    return encode_image_b64(image, "JPEG", quality=options.jpeg_quality)


def _text_records(
    split: str, scenes: list[Scene], captions: list[list[Caption]], first_image: int, next_ids: _NextIds, max_gold: int
) -> tuple[list[TextRecord], int]:
    """Train: one record per caption, gold = its own image. Valid/test: one record per distinct caption text,
    gold = every image of the split the caption's facts hold for; captions with more than `max_gold` gold
    images are dropped (returned: how many)."""
    records = []
    if split == "train":
        for index, per_image in enumerate(captions):
            for caption in per_image:
                records.append(TextRecord(next_ids.text, caption.text, (first_image + index,)))
                next_ids.text += 1
        return records, 0
    table = SceneTable(scenes)
    unique: dict[str, Caption] = {}
    for caption in (c for per_image in captions for c in per_image):
        unique.setdefault(caption.text, caption)
    for text, caption in unique.items():
        gold = np.flatnonzero(all_hold(caption.facts, table)) + first_image
        if len(gold) <= max_gold:
            records.append(TextRecord(next_ids.text, text, tuple(int(i) for i in gold)))
            next_ids.text += 1
    return records, len(unique) - len(records)


ZEROSHOT_TEMPLATES = ("{}。", "一个{}。", "图中有一个{}。", "画面里是一个{}。", "一张画着{}的图片。")


def generate_zeroshot(
    out_dir: str | Path, per_class: int, seed: int, image_size: int = 96, options: SynthOptions | None = None
) -> Path:
    """A zero-shot classification set in Chinese-CLIP's image-folder layout: one shape per image, the class is
    the shape. Writes `test/<class index>/<n>.jpg`, `label_cn.txt` and `templates.txt` (this dataset's
    prompts) into `out_dir`, atomically."""
    options = options or SynthOptions()
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, directory=True) as tmp:
        for index, shape in enumerate(SHAPES):
            config = dataclasses.replace(options.scene, object_count_weights=(1.0,), shapes=(shape,))
            folder = tmp / "test" / f"{index:03d}"
            folder.mkdir(parents=True)
            for n in range(per_class):
                scene = sample_scene(np.random.default_rng([seed, len(SPLITS), index, n]), config)
                image = render_scene(scene, (image_size, image_size), noise=options.noise)
                image.save(folder / f"{n:05d}.jpg", quality=options.jpeg_quality)
        (tmp / "label_cn.txt").write_text("".join(f"{SHAPE_WORDS[s][0]}\n" for s in SHAPES), encoding="utf-8")
        (tmp / "templates.txt").write_text("".join(f"{t}\n" for t in ZEROSHOT_TEMPLATES), encoding="utf-8")
    return out
