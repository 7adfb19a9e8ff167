"""The automatic relevance cut-off against the synthetic benchmark's gold (`zhclip data synth`).

Each valid/test caption's gold is every image its facts hold for. The library of a split's images is indexed
with the demo model; each caption is searched as the page searches it (the automatic cut-off), and the files
kept are compared with its gold: precision and recall, summed over all captions (micro) and the share of
captions with an empty result. `CUTOFF_Z` is chosen on the valid split (best micro F1 over a grid); the test
split reports the shipped value, next to fixed score thresholds and a fixed top-k for comparison.

    PYTHONPATH=src python benchmarks/search_cutoff.py --work /tmp/cutoff --images 500
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
Z_GRID = (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0)


@dataclass
class Split:
    texts: list[tuple[str, set[int]]]  # (caption, gold image ids)
    scores: list[np.ndarray]  # per caption: every library image's score, by image id order
    image_ids: np.ndarray
    searcher: object  # the split's Searcher


def build(work: Path, images: int, seed: int, model: str) -> dict[str, Split]:
    from zhclip.data.formats import decode_b64, iter_tsv, read_texts
    from zhclip.data.synth.generate import generate
    from zhclip.search import IndexOptions, Library, MediaEncoder, Query, Reader, Searcher, index_library

    synth = work / "synth"
    if not (synth / "synth.json").is_file():
        generate(synth, 0, images, images, seed)
    encoder = MediaEncoder.load(model, device="cpu", precision="fp32")
    splits = {}
    for split in ("valid", "test"):
        folder, db = work / split, work / f"{split}.db"
        if not db.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            for line in iter_tsv(synth / f"{split}_imgs.tsv"):
                (folder / f"{line.image_id}.jpg").write_bytes(decode_b64(line.b64))  # JPEG as generated
            index_library(db, [folder], encoder, IndexOptions(commit_every=5))
        searcher = Searcher(Library(Reader(db), encoder))
        texts = [(r.text, set(r.image_ids)) for r in read_texts(synth / f"{split}_texts.jsonl")]
        everything = Query(top=len(list(folder.iterdir())), min_score=-1)
        scores, ids = [], None
        for text, _ in texts:
            everything.text = text
            ranked = sorted(searcher.search(everything), key=lambda r: int(Path(r.path).stem))
            ids = np.array([int(Path(r.path).stem) for r in ranked])
            scores.append(np.array([r.score for r in ranked]))
        splits[split] = Split(texts, scores, ids, searcher)
    return splits


def measure(split: Split, keep) -> dict:
    """`keep(scores) -> bool mask` per caption -> micro precision/recall/F1 and the share of empty results."""
    hits = kept = gold = empty = 0
    for (_, truth), scores in zip(split.texts, split.scores, strict=True):
        chosen = set(split.image_ids[keep(scores)].tolist())
        hits, kept, gold, empty = (
            hits + len(chosen & truth),
            kept + len(chosen),
            gold + len(truth),
            empty + (not chosen),
        )
    precision = hits / kept if kept else 0.0
    recall = hits / gold
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "empty_share": round(empty / len(split.texts), 4),
        "mean_kept": round(kept / len(split.texts), 2),
    }


def robust_z(z: float):
    def keep(scores: np.ndarray) -> np.ndarray:
        median = np.median(scores)
        return scores >= median + z * 1.4826 * np.median(np.abs(scores - median))

    return keep


def shipped(split: Split) -> dict:
    """What the searcher itself keeps by default (min_score None): the real code path."""
    from zhclip.search import Query

    hits = kept = gold = empty = 0
    for text, truth in split.texts:
        found = split.searcher.search(Query(text=text, top=len(split.image_ids)))
        chosen = {int(Path(r.path).stem) for r in found}
        hits, kept, gold, empty = (
            hits + len(chosen & truth),
            kept + len(chosen),
            gold + len(truth),
            empty + (not chosen),
        )
    precision, recall = (hits / kept if kept else 0.0), hits / gold
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "empty_share": round(empty / len(split.texts), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/zhclip-cutoff"))
    parser.add_argument("--images", type=int, default=500, help="images per split")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model", default=str(ROOT / "src" / "zhclip" / "assets" / "demo_model.pt"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "search_cutoff")
    args = parser.parse_args()
    from zhclip.search.cutoff import CUTOFF_Z

    splits = build(args.work, args.images, args.seed, args.model)
    valid = {z: measure(splits["valid"], robust_z(z)) for z in Z_GRID}
    best = max(valid, key=lambda z: valid[z]["f1"])
    test = splits["test"]
    report = {
        "images_per_split": args.images,
        "captions": {name: len(s.texts) for name, s in splits.items()},
        "valid_by_z": valid,
        "best_z_on_valid": best,
        "shipped_z": CUTOFF_Z,
        "test_shipped_cutoff": shipped(test),
        "test_at_best_z": measure(test, robust_z(best)),
        "test_fixed_threshold": {t: measure(test, lambda s, t=t: s >= t) for t in (0.2, 0.25, 0.3, 0.35, 0.4)},
        "test_top_k": {k: measure(test, lambda s, k=k: s >= np.sort(s)[-k]) for k in (5, 20, 40)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
