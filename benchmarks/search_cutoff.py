"""The automatic relevance cut-off against the synthetic benchmark's gold (`zhclip data synth`).

Each valid/test caption's gold is every image its facts hold for. A library of each split's images is
indexed with the demo model; every caption's scores against every image are computed once, and cut-off
rules are compared on them: precision and recall summed over all captions (micro), F1, the share of
captions left with no result, and the mean number of results kept. Each rule's parameters are chosen on the
valid split (best F1); the test split reports them. The shipped rule (`zhclip.search.cutoff`) is also run
through the real search path on a sample of test captions with default settings, where it marks weak results
instead of hiding them: recall@5 against the unfiltered ranking's, and the precision/recall of the results
above the divider (checked to be what this script's copy of the rule keeps).

    PYTHONPATH=src python benchmarks/search_cutoff.py --work /tmp/cutoff --images 500
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
Z_GRID = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0)
TOP = 5  # recall@5 of the real search path, default settings against the unfiltered ranking
D_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def build(work: Path, images: int, seed: int, model: str):
    """{split: (captions, gold sets, scores (captions, images), image ids)} and each split's searcher."""
    from zhclip.data.formats import decode_b64, iter_tsv, read_texts
    from zhclip.data.synth.generate import generate
    from zhclip.search import IndexOptions, Library, MediaEncoder, Reader, Searcher, index_library

    synth = work / "synth"
    if not (synth / "synth.json").is_file():
        generate(synth, 0, images, images, seed)
    encoder = MediaEncoder.load(model, device="cpu", precision="fp32")
    splits, searchers = {}, {}
    for split in ("valid", "test"):
        folder, db = work / split, work / f"{split}.db"
        if not db.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            for line in iter_tsv(synth / f"{split}_imgs.tsv"):
                (folder / f"{line.image_id}.jpg").write_bytes(decode_b64(line.b64))  # JPEG as generated
            index_library(db, [folder], encoder, IndexOptions(commit_every=5))
        reader = Reader(db)
        content_ids, _, vectors = reader.vectors()
        image_of = {r.content_id: int(Path(r.path).stem) for r in reader.files_of(content_ids.tolist())}
        records = list(read_texts(synth / f"{split}_texts.jsonl"))
        texts = encoder.encode_texts([r.text for r in records])
        scores = texts @ vectors.astype(np.float32).T
        ids = np.array([image_of[c] for c in content_ids.tolist()])
        splits[split] = ([r.text for r in records], [set(r.image_ids) for r in records], scores, ids)
        searchers[split] = Searcher(Library(reader, encoder))
    return splits, searchers


def rates(chosen: list[set[int]], gold: list[set[int]]) -> dict:
    hits = sum(len(c & g) for c, g in zip(chosen, gold, strict=True))
    kept, wanted = sum(map(len, chosen)), sum(map(len, gold))
    precision, recall = (hits / kept if kept else 0.0), hits / wanted
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "empty_share": round(sum(not c for c in chosen) / len(chosen), 4),
        "mean_kept": round(kept / len(chosen), 2),
    }


def measure(split, threshold_of) -> dict:
    """`threshold_of(scores (captions, images)) -> (captions,)` thresholds; a result is kept at or above."""
    _, gold, scores, ids = split
    keep = scores >= threshold_of(scores)[:, None]
    return rates([set(ids[row].tolist()) for row in keep], gold)


def spread(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    median = np.median(scores, axis=1)
    return median, 1.4826 * np.median(np.abs(scores - median[:, None]), axis=1)


def rules() -> dict:
    """name -> {parameters: threshold_of}."""
    out = {"median + z·σ": {}, "best − d·σ": {}, "max(median + z·σ, best − d·σ)": {}}
    for z in Z_GRID:
        out["median + z·σ"][f"z={z}"] = lambda s, z=z: (lambda m, d: m + z * d)(*spread(s))
    for d in D_GRID:
        out["best − d·σ"][f"d={d}"] = lambda s, d=d: s.max(axis=1) - d * spread(s)[1]
        for z in Z_GRID:
            out["max(median + z·σ, best − d·σ)"][f"z={z},d={d}"] = lambda s, z=z, d=d: np.maximum(
                (lambda m, sd: m + z * sd)(*spread(s)), s.max(axis=1) - d * spread(s)[1]
            )
    return out


def shipped_on_sample(searcher, split, sample: int, seed: int) -> dict:
    """The real search path with default settings on `sample` test captions: recall@5 next to the unfiltered
    ranking's (`min_score=-1`, same run) and to the old rule's (weak results hidden); the precision and
    recall of the results above the divider (those not marked weak), and whether they are what this script's
    copy of the rule keeps."""
    from zhclip.search import Query
    from zhclip.search.cutoff import cutoff_from_scores

    texts, gold, scores, ids = split
    picked = np.random.default_rng(seed).choice(len(texts), min(sample, len(texts)), replace=False)
    golds = [gold[i] for i in picked]
    pages = [searcher.search(Query(text=texts[i], top=len(ids))) for i in picked]
    unfiltered = [searcher.search(Query(text=texts[i], top=TOP, min_score=-1)) for i in picked]
    again = [set(ids[scores[i] >= cutoff_from_scores(scores[i], scores[i].max())].tolist()) for i in picked]
    hidden = [[r for r in page if not r.weak] for page in pages]  # the old rule's pages
    return {
        "captions": len(picked),
        "empty_pages": sum(not page for page in pages),
        f"recall_at_{TOP}": rates([_images(page[:TOP]) for page in pages], golds)["recall"],
        f"recall_at_{TOP}_unfiltered": rates([_images(page) for page in unfiltered], golds)["recall"],
        f"recall_at_{TOP}_weak_hidden": rates([_images(page[:TOP]) for page in hidden], golds)["recall"],
        "above_divider": rates([_images(page) for page in hidden], golds),
        "same_as_script": [_images(page) for page in hidden] == again,
    }


def _images(results) -> set[int]:
    return {int(Path(r.path).stem) for r in results}


def main() -> int:
    from zhclip.bench.results import command_line, machine_record

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/zhclip-cutoff"))
    parser.add_argument("--images", type=int, default=500, help="images per split")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sample", type=int, default=200, help="test captions run through the real search")
    parser.add_argument("--model", default=str(ROOT / "src" / "zhclip" / "assets" / "demo_model.pt"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "search_cutoff.json")
    args = parser.parse_args()
    splits, searchers = build(args.work, args.images, args.seed, args.model)
    report = {
        "machine": machine_record(command_line("benchmarks/search_cutoff.py")),
        "images_per_split": args.images,
        "captions": {k: len(v[0]) for k, v in splits.items()},
        "rules": {},
    }
    for name, variants in rules().items():
        valid = {key: measure(splits["valid"], rule) for key, rule in variants.items()}
        best = max(valid, key=lambda key: valid[key]["f1"])
        report["rules"][name] = {
            "best_on_valid": best,
            "valid": valid[best],
            "test": measure(splits["test"], variants[best]),
        }
    test = splits["test"]
    report["fixed_threshold"] = {t: measure(test, lambda s, t=t: np.full(len(s), t)) for t in (0.2, 0.25, 0.3, 0.35)}
    report["top_k"] = {k: measure(test, lambda s, k=k: np.sort(s, axis=1)[:, -k]) for k in (1, 5, 20, 40)}
    report["shipped_on_test_sample"] = shipped_on_sample(searchers["test"], test, args.sample, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
