#!/usr/bin/env python
"""--multi-positive and --patch-dropout on the offline synthetic benchmark (not run in CI).

The `tiny` student of benchmarks/distill_experiment.py trained from scratch (default 300 steps, batch 128), or
a trained model fine-tuned (--model, e.g. the shipped demo model), with each option and without (identical data,
steps and seeds), evaluated with `zhclip eval retrieval` on the test split. Three datasets:
`synth` as generated (train: each caption is its own text id; an image has 5 captions, so pairs share image
ids), `labels`, the same with every caption string that occurs more than once merged into one text id
true of all its images (label-like data, as in MUGE), and `generic`, where every image of every split keeps only
its most shared caption, merged the same way (one label-like caption per image, ~14 pairs of a 128 batch share
it). Every step is a printed `zhclip` command; finished steps are skipped when re-run with the same --out.
Results: OUT/results.md and .json, copied to benchmarks/results/train_options.*

    python benchmarks/train_options.py [--seeds 0 1] [--steps 300] [--batch 128] [--parallel 1] [--out DIR]
    python benchmarks/train_options.py --step-time ViT-B-16 --batch 16   # step time with/without patch dropout
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.distill_experiment import RESULTS, Runner  # noqa: E402

FROM_SCRATCH = {"lr": 2e-3, "warmup": 50}  # --arch tiny, as benchmarks/distill_experiment.py trains it
FINE_TUNE = {"lr": 2e-4, "warmup": 5}  # --model M: a trained model, e.g. the shipped demo model
SYNTH = (3000, 300, 500)
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {  # name -> (dataset, flags), in the order they run
    "synth baseline": ("synth", ()),
    "synth --patch-dropout 0.5": ("synth", ("--patch-dropout", "0.5")),
    "labels baseline": ("labels", ()),
    "labels --multi-positive": ("labels", ("--multi-positive",)),
    "synth --augment": ("synth", ("--augment",)),
    "synth --augment --multi-positive": ("synth", ("--augment", "--multi-positive")),
    "synth --multi-positive": ("synth", ("--multi-positive",)),
    "generic baseline": ("generic", ()),
    "generic --multi-positive": ("generic", ("--multi-positive",)),
}


def make_data(runner: Runner, out: Path) -> dict[str, Path]:
    synth, labels, generic = out / "synth", out / "labels", out / "generic"
    if not (synth / "synth.json").is_file():
        train, valid, test = SYNTH
        runner.zhclip("synth", "data", "synth", synth, "--train", train, "--valid", valid, "--test", test, "--seed", 0)
    if not (labels / "train_texts.jsonl").is_file():
        merge_identical_captions(synth, labels)
    if not (generic / "train_texts.jsonl").is_file():
        keep_most_shared_caption(synth, generic)
    return {"synth": synth, "labels": labels, "generic": generic}


def merge_identical_captions(src: Path, dst: Path) -> None:
    """A copy of `src` whose train captions with the same string are one text id listing all their images."""
    dst.mkdir(parents=True, exist_ok=True)
    for file in src.glob("*_imgs.tsv"):
        shutil.copyfile(file, dst / file.name)
    for split in ("valid", "test"):
        shutil.copyfile(src / f"{split}_texts.jsonl", dst / f"{split}_texts.jsonl")
    merged: dict[str, dict] = {}
    for line in (src / "train_texts.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        entry = merged.setdefault(
            record["text"], {"text_id": record["text_id"], "text": record["text"], "image_ids": []}
        )
        entry["image_ids"] += [i for i in record["image_ids"] if i not in entry["image_ids"]]
    rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in merged.values())
    (dst / "train_texts.jsonl").write_text(rows, encoding="utf-8")


def keep_most_shared_caption(src: Path, dst: Path) -> None:
    """A copy of `src` where each image of each split keeps only the caption string most images of its split
    share (the first on ties), one text id per string listing all its images."""
    dst.mkdir(parents=True, exist_ok=True)
    for file in src.glob("*_imgs.tsv"):
        shutil.copyfile(file, dst / file.name)
    for split in ("train", "valid", "test"):
        records = [json.loads(line) for line in (src / f"{split}_texts.jsonl").read_text(encoding="utf-8").splitlines()]
        shared = Counter(r["text"] for r in records for _ in r["image_ids"])
        chosen: dict[int, dict] = {}
        for record in records:
            for image in record["image_ids"]:
                if image not in chosen or shared[record["text"]] > shared[chosen[image]["text"]]:
                    chosen[image] = record
        merged: dict[str, dict] = {}
        for image, record in chosen.items():
            entry = merged.setdefault(record["text"], {**record, "image_ids": []})
            entry["image_ids"].append(image)
        rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in merged.values())
        (dst / f"{split}_texts.jsonl").write_text(rows, encoding="utf-8")


def train_and_eval(runner: Runner, args: argparse.Namespace, data: Path, name: str, seed: int) -> dict:
    out, flags = args.out, VARIANTS[name][1]
    tag = f"{_slug(name)}-{'ft' if args.model else 'scratch'}-b{args.batch}-n{args.steps}-s{seed}"
    run, evaluation = out / "runs" / tag, out / "eval" / tag
    start = ["--model", args.model] if args.model else ["--arch", "tiny", "--init-logit-scale", 5]
    recipe = FINE_TUNE if args.model else FROM_SCRATCH
    if not (run / "summary.json").is_file():
        runner.zhclip(
            f"{name} s{seed}",
            *["train", *start, "--data", data, "--out", run, "--batch-size", args.batch, "--max-steps", args.steps],
            *["--lr", recipe["lr"], "--warmup", recipe["warmup"], "--wd", 0.1],
            *["--seed", seed, "--val-every", 0, "--log-every", 10, "--save-every", args.steps, "--save-epochs", 0],
            *["--no-progress", "--no-hf"],
            *flags,
        )
    if not (evaluation / "retrieval_summary.json").is_file():
        checkpoint = run / "checkpoints" / "epoch_latest.pt"
        runner.zhclip(
            f"eval {name} s{seed}",
            *["eval", "retrieval", "--model", checkpoint, "--data", data, "--split", "test", "--out", evaluation],
        )
    summary = json.loads((run / "summary.json").read_text())
    recall = [json.loads((evaluation / f"test_{d}_metrics.json").read_text())["score"] for d in ("t2i", "i2t")]
    return {
        "mean_recall": sum(recall) / 2,
        "t2i": recall[0],
        "i2t": recall[1],
        "step_s": summary["wall_time_s"] / summary["steps"],
        "samples_per_s": summary["samples_per_s"],
    }


def _slug(name: str) -> str:
    return name.replace(" --", "-").replace(" ", "-").replace(".", "")


def table(results: dict[str, dict[int, dict]]) -> str:
    lines = [
        "| variant | seeds | test mean recall | text->image | image->text | step time (s) | vs baseline |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, by_seed in results.items():
        base = results.get(f"{name.split()[0]} baseline", {})
        common = sorted(set(by_seed) & set(base))
        mr = [by_seed[s]["mean_recall"] for s in sorted(by_seed)]
        delta = statistics.mean(by_seed[s]["mean_recall"] - base[s]["mean_recall"] for s in common) if common else 0
        lines.append(
            f"| {name} | {','.join(map(str, sorted(by_seed)))} | {_mean_sd(mr)} "
            f"| {_mean_sd([r['t2i'] for r in by_seed.values()])} | {_mean_sd([r['i2t'] for r in by_seed.values()])} "
            f"| {statistics.mean(r['step_s'] for r in by_seed.values()):.3f} | {delta:+.2f} |"
        )
    return "\n".join(lines)


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def step_time(arch: str, batch: int, rates: tuple[float, ...], rounds: int) -> str:
    """Median seconds of one contrastive forward + backward per patch-dropout rate, rates alternating within
    each round so that load changes hit them alike."""
    import torch

    from zhclip.models import random_model
    from zhclip.train.objectives import ContrastiveObjective

    network = random_model(arch, seed=0).train()
    objective = ContrastiveObjective(network)
    size = network.config.vision.image_size
    batch_data = {"pixels": torch.randn(batch, 3, size, size), "ids": torch.randint(1, 21128, (batch, 24))}
    times: dict[float, list[float]] = {rate: [] for rate in rates}
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        for rate in rates:
            network.set_patch_dropout(rate)
            start = time.perf_counter()
            sum(objective(objective.features(batch_data), {}).values()).backward()
            times[rate].append(time.perf_counter() - start)
    patches = network.config.vision.grid**2
    lines = [f"`{arch}` ({patches} patches), batch {batch}, median of {rounds} rounds (measured under load)", ""]
    lines += ["| --patch-dropout | patches kept | step (s) | vs 0 |", "|---:|---:|---:|---:|"]
    base = statistics.median(times[rates[0]][1:])
    for rate in rates:
        median = statistics.median(times[rate][1:])
        lines.append(f"| {rate} | {int(patches * (1 - rate))} | {median:.3f} | {median / base:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", type=Path, default=Path("experiments/train_options"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--model", help="fine-tune this model (default: tiny from scratch)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time")
    parser.add_argument(
        "--step-time", metavar="ARCH", help="instead: time training steps of ARCH with and without patch dropout"
    )
    args = parser.parse_args()
    if args.step_time:
        text = step_time(args.step_time, args.batch, (0.0, 0.25, 0.5, 0.75), rounds=5)
        (RESULTS / "patch_dropout_step_time.md").write_text(text + "\n", encoding="utf-8")
        print(text)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    runner = Runner(args.out)
    data = make_data(runner, args.out)
    results: dict[str, dict[int, dict]] = {}
    jobs = [(name, seed) for seed in args.seeds for name in args.variants]
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = {pool.submit(train_and_eval, runner, args, data[VARIANTS[n][0]], n, s): (n, s) for n, s in jobs}
        for future in as_completed(futures):
            name, seed = futures[future]
            results.setdefault(name, {})[seed] = future.result()
            write_results(args, {n: results[n] for n in args.variants if n in results})
    print((args.out / "results.md").read_text())


def write_results(args: argparse.Namespace, results: dict[str, dict[int, dict]]) -> None:
    out = args.out
    recipe = FINE_TUNE if args.model else FROM_SCRATCH
    start = f"--model {args.model}" if args.model else "tiny from scratch"
    header = (
        f"`python benchmarks/train_options.py {'--model ' + args.model + ' ' if args.model else ''}--steps "
        f"{args.steps} --batch {args.batch} --seeds {' '.join(map(str, args.seeds))}`: {start}, {args.steps} "
        f"steps, batch {args.batch}, lr {recipe['lr']}, warmup {recipe['warmup']}, "
        f"synth {SYNTH[0]}/{SYNTH[1]}/{SYNTH[2]} images (train/valid/test); test mean recall x100 (mean ± std "
        "over seeds); step time = training wall time / steps, measured under load (2 CPU cores shared with other "
        "work).\n\n"
    )
    (out / "results.md").write_text(header + table(results) + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for suffix in ("md", "json"):
        shutil.copyfile(out / f"results.{suffix}", RESULTS / f"train_options.{suffix}")


if __name__ == "__main__":
    main()
