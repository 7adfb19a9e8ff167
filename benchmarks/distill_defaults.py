#!/usr/bin/env python
"""Which distillation loss terms should `zhclip distill` default to? Equal-compute evidence (not run in CI).

On the offline synthetic benchmark of benchmarks/distill_experiment.py (synth 3000/300/500, seed 0), with its
`teacher-demo` (the shipped src/zhclip/assets/demo_model.pt is that model) and its 300-step `tiny` student at
batch 128, five seeds each of:

- the student distilled with the default terms and with the two best variants of that experiment's ablation
  (contrastive+feature; all + interactive), each cached teacher embedding included in its compute;
- a baseline (no teacher) given the same total compute: the student's steps plus the teacher cache's forward
  passes over the training data, counted in student-step equivalents with zhclip's FLOP counter
  (`zhclip.models.flops.count_flops`; a training step = 3 x the forward FLOPs of its batch);
- a baseline trained for a longer horizon with validation every 100 steps, to find where its validation recall
  stops rising (the first validation that no later one beats by more than PLATEAU_MARGIN points).

Plus, for `--multi-positive`, three seeds of plain InfoNCE against --multi-positive on label-like data (the same
synth where each image keeps only its most shared caption, one text id per caption listing all its images:
benchmarks/train_options.py `generic`), from scratch and fine-tuning a distilled student of this experiment.

Every run is a printed `zhclip` command (OMP threads as set in the environment), `--parallel` at a time; finished
runs are skipped on rerun with the same --out. Test split metrics come from `zhclip eval retrieval`; tables give
the mean and the 95 % t-interval over seeds.

    OMP_NUM_THREADS=1 python benchmarks/distill_defaults.py --parallel 2     # experiments/distill_defaults

Results: benchmarks/results/distill_defaults.{md,json} and benchmarks/results/multi_positive.{md,json}
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.distill_experiment import RESULTS, Experiment, Model, Plan, _slug  # noqa: E402
from benchmarks.train_options import keep_most_shared_caption  # noqa: E402

TEACHER = Path(__file__).resolve().parent.parent / "src" / "zhclip" / "assets" / "demo_model.pt"
SEEDS = (0, 1, 2, 3, 4)
MULTI_POSITIVE_SEEDS = (0, 1, 2)
MULTI_POSITIVE_ARMS = ("generic-infonce", "generic-multipos")
FINE_TUNE_ARMS = ("generic-ft-infonce", "generic-ft-multipos")
FINE_TUNE_START = "kd-all-interactive-s0"  # a distilled student of this experiment (test MR 31 on synth)
FINE_TUNE_WARMUP = 10
MULTI = ("--multi-positive",)
VAL_EVERY = 100
PLATEAU_MARGIN = 1.0  # MR points (x100) on the validation split
TRAIN_IMAGES, TRAIN_TEXTS = 3000, 15000

OLD_DEFAULT, NEW_DEFAULT = "contrastive+kl+feature", "all + interactive"  # `zhclip distill`'s before / after
ARMS: dict[str, tuple[str, ...]] = {  # distillation variants -> flags on top of the distill defaults
    "contrastive+kl+feature": ("--kd-contrastive", "1", "--kd-kl", "1", "--kd-feature", "1", "--kd-interactive", "0"),
    "contrastive+feature": ("--kd-contrastive", "1", "--kd-kl", "0", "--kd-feature", "1", "--kd-interactive", "0"),
    "all + interactive": ("--kd-contrastive", "1", "--kd-kl", "1", "--kd-feature", "1", "--kd-interactive", "1"),
}


@dataclass(frozen=True)
class Setup:
    student: Model = Model("tiny", "tiny", 300, 2e-3, 128)
    long_steps: int = 2000  # horizon of the baseline trained until its validation recall stops rising
    multi_positive_steps: int = 200  # from scratch
    fine_tune: Model = Model("generic-ft", "tiny", 150, 5e-4, 128)  # from FINE_TUNE_START


def _t95(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def interval(values: list[float]) -> dict:
    if not values:
        return {"mean": math.nan, "ci95": [math.nan, math.nan], "half": math.nan, "values": []}
    mean = statistics.fmean(values)
    half = _t95(len(values)) * statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return {"mean": mean, "ci95": [mean - half, mean + half], "half": half, "values": values}


def compute_budget(student: Model) -> dict:
    """Student steps, and the teacher cache converted into student-step equivalents (FLOPs)."""
    from zhclip.models import random_model, read_weights
    from zhclip.models.flops import count_flops

    s = count_flops(random_model(student.arch, seed=0).config)
    t = count_flops(read_weights(TEACHER).config)
    step = 3 * student.batch * (s["image"] + s["text"])
    cache = TRAIN_IMAGES * t["image"] + TRAIN_TEXTS * t["text"]
    return {
        "student_flops": s,
        "teacher_flops": t,
        "student_step_flops": step,
        "teacher_cache_flops": cache,
        "teacher_cache_steps": cache / step,
        "equal_compute_steps": student.steps + round(cache / step),
        "teacher_training_steps_equiv": 1000 * 3 * 128 * (t["image"] + t["text"]) / step,
    }


class DefaultsExperiment(Experiment):
    """distill_experiment's runs with validation every VAL_EVERY steps, the shipped demo model as teacher."""

    def _common(self, model: Model, seed: int) -> list[object]:
        flags = super()._common(model, seed)
        flags[flags.index("--val-every") + 1] = VAL_EVERY
        return flags

    def train_on(
        self, data: Path, model: Model, seed: int, flags: tuple[str, ...] = (), start: Path | None = None
    ) -> str:
        """Train `model` from scratch, or fine-tune the checkpoint `start` (its own logit scale, FINE_TUNE_WARMUP)."""
        name = f"{model.name}-s{seed}"
        run = self.runs / name
        if not (run / "summary.json").is_file():
            common = self._common(model, seed)
            common[common.index("--data") + 1] = data
            origin: list[object] = ["--arch", model.arch]
            if start:
                origin = ["--model", start]
                common[common.index("--warmup") + 1] = FINE_TUNE_WARMUP
                del common[common.index("--init-logit-scale") : common.index("--init-logit-scale") + 2]
            self.runner.zhclip(name, "train", *origin, "--out", run, *common, *flags)
        self.evaluate_on(data, name, run)
        return name

    def evaluate_on(self, data: Path, name: str, run: Path) -> None:
        self.evaluate_start(data, name, run / "checkpoints" / "epoch_latest.pt")

    def evaluate_start(self, data: Path, name: str, checkpoint: Path) -> None:
        """`checkpoint` on `data`'s test split (also a fine-tuning start, as a step-0 reference)."""
        if not (self.evals / name / "retrieval_summary.json").is_file():
            self.runner.zhclip(
                f"eval {name}", "eval", "retrieval", "--model", checkpoint, "--data", data,
                "--split", "test", "--out", self.evals / name, "--name", name,
            )  # fmt: skip

    def val_curve(self, name: str) -> list[tuple[int, float]]:
        lines = (self.runs / name / "logs" / "metrics.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        return [(r["step"], r["mean_recall"]) for r in rows if r.get("kind") == "val"]

    def finished(self, name: str) -> bool:
        return (self.evals / name / "retrieval_summary.json").is_file()

    def test_mr(self, name: str) -> float:
        recall = self._recall(name)
        return (recall["t2i"]["mean_recall"] + recall["i2t"]["mean_recall"]) / 2


def plateau_step(curve: list[tuple[int, float]]) -> tuple[int, float]:
    """The first validation that no later validation beats by more than PLATEAU_MARGIN."""
    for i, (step, value) in enumerate(curve):
        if all(later <= value + PLATEAU_MARGIN for _, later in curve[i + 1 :]):
            return step, value
    return curve[-1]


def jobs(exp: DefaultsExperiment, setup: Setup, budget: dict, generic: Path) -> list:
    """Callables, one per run, in the order they run: distilled arms, equal-compute baselines, multi-positive
    runs, long baselines."""
    student = setup.student
    equal = replace(student, name="baseline-equal-compute", steps=budget["equal_compute_steps"])
    long = replace(student, name=f"baseline-{setup.long_steps}-steps", steps=setup.long_steps)
    mp = replace(student, steps=setup.multi_positive_steps)
    out = [
        lambda s=s, a=arm, f=flags: exp.distill(f"kd-{_slug(a)}", TEACHER, s, f)
        for s in reversed(SEEDS)
        for arm, flags in ARMS.items()
    ]
    out += [lambda s=s: exp.train_on(exp.data, equal, s) for s in SEEDS]
    for s in MULTI_POSITIVE_SEEDS:
        out.append(lambda s=s: exp.train_on(generic, replace(mp, name="generic-infonce"), s))
        out.append(lambda s=s: exp.train_on(generic, replace(mp, name="generic-multipos"), s, MULTI))
    start = exp.runs / FINE_TUNE_START / "checkpoints" / "epoch_latest.pt"
    out.append(lambda: exp.evaluate_start(generic, "generic-ft-start", start))
    ft = setup.fine_tune
    for s in MULTI_POSITIVE_SEEDS:
        out.append(lambda s=s: exp.train_on(generic, replace(ft, name=FINE_TUNE_ARMS[0]), s, start=start))
        out.append(lambda s=s: exp.train_on(generic, replace(ft, name=FINE_TUNE_ARMS[1]), s, MULTI, start=start))
    out += [lambda s=s: exp.train_on(exp.data, long, s) for s in SEEDS]
    return out


def summarize(exp: DefaultsExperiment, setup: Setup, budget: dict) -> dict:
    """Rows over the seeds whose runs are finished (all of SEEDS after a complete run)."""
    eq_steps, long_steps = budget["equal_compute_steps"], setup.long_steps
    rows = [
        _row(
            exp,
            f"distilled: {arm}" + {OLD_DEFAULT: " (old default)", NEW_DEFAULT: " (default now)"}.get(arm, ""),
            f"kd-{_slug(arm)}",
            setup.student.steps,
            eq_steps,
        )
        for arm in ARMS
    ]
    rows.append(_row(exp, "baseline, equal compute", "baseline-equal-compute", eq_steps, eq_steps))
    long = _row(exp, f"baseline, {long_steps} steps", f"baseline-{long_steps}-steps", long_steps, long_steps)
    if long["seeds"]:
        plateaus = [plateau_step(curve) for curve in long["val_curves"].values()]
        long["plateau_steps"] = interval([float(p[0]) for p in plateaus])
        long["plateau_val_mr"] = interval([p[1] for p in plateaus])
    rows.append(long)
    base = rows[len(ARMS)]["by_seed"]
    for row in rows:
        common = [s for s in row["seeds"] if s in base]
        row["vs_equal_compute"] = interval([row["by_seed"][s] - base[s] for s in common])
    return {"setup": repr(setup), "seeds": list(SEEDS), "budget": budget, "rows": rows}


def _row(exp: DefaultsExperiment, label: str, base: str, steps: int, compute: int) -> dict:
    seeds = [s for s in SEEDS if exp.finished(f"{base}-s{s}")]
    names = [f"{base}-s{s}" for s in seeds]
    return {
        "model": label,
        "runs": names,
        "seeds": seeds,
        "steps": steps,
        "compute_steps": compute,
        "by_seed": {s: exp.test_mr(n) for s, n in zip(seeds, names, strict=True)},
        "test_mr": interval([exp.test_mr(n) for n in names]),
        "best_val_mr": interval([max(v for _, v in exp.val_curve(n)) for n in names]),
        "val_rise_last_two": interval([_rise(exp.val_curve(n)) for n in names]),
        "val_curves": {n: exp.val_curve(n) for n in names},
    }


def _rise(curve: list[tuple[int, float]]) -> float:
    """Validation MR gained over the last two validations (still rising when clearly above 0)."""
    return curve[-1][1] - curve[-3][1]


def _ci(stat: dict) -> str:
    return f"{stat['mean']:.2f} [{stat['ci95'][0]:.2f}, {stat['ci95'][1]:.2f}]"


def markdown(result: dict, command: str) -> str:
    b = result["budget"]
    lines = [
        "# Distillation defaults at equal compute\n",
        f"Command: `{command}`\n",
        "Synthetic benchmark (synth 3000/300/500 images, seed 0), `tiny` student (1.61 M) at batch 128, lr 2e-3, "
        "warmup 50, teacher = src/zhclip/assets/demo_model.pt (the `teacher-demo` of distill_experiment.md, "
        f"test MR 49.51). Seeds {', '.join(map(str, result['seeds']))}; mean [95 % t-interval] over the seeds a row "
        "has (t-distribution, n - 1 degrees of freedom); Δ is paired by seed. MR = mean of R@1/5/10 "
        "(x100), averaged over both directions; test split for 'Test MR', validation split (every 100 steps) for "
        "'Best val MR'.\n",
        f"Compute in student-step equivalents (FLOPs from `zhclip.models.flops.count_flops`, a training step = 3 x "
        f"forward): one student step = {b['student_step_flops'] / 1e9:.2f} GFLOP; the teacher cache (teacher "
        f"forward over {TRAIN_IMAGES} images + {TRAIN_TEXTS} texts) = {b['teacher_cache_flops'] / 1e9:.0f} GFLOP = "
        f"{b['teacher_cache_steps']:.0f} steps, so a 300-step distillation costs {b['equal_compute_steps']} steps. "
        f"The teacher's own training (1000 demo steps at batch 128) would be {b['teacher_training_steps_equiv']:.0f} "
        "steps and is not counted (the teacher exists already). Validation passes are the same for every row and not "
        "counted. KL/feature/interactive terms add O(batch^2 x dim) FLOPs per step, negligible.\n",
        "| Model | Seeds | Steps | Compute (student steps) | Test MR | Best val MR | Val rise, last 2 vals | "
        "Δ test MR vs equal compute |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['model']} | {len(row['seeds'])} | {row['steps']} | {row['compute_steps']} | "
            f"{_ci(row['test_mr'])} | {_ci(row['best_val_mr'])} | {_ci(row['val_rise_last_two'])} | "
            f"{_ci(row['vs_equal_compute'])} |"
        )
    long = result["rows"][-1]
    if "plateau_steps" in long:
        lines += [
            "",
            f"Baseline validation recall stops rising (first validation no later one beats by more than "
            f"{PLATEAU_MARGIN} point) at step {_ci(long['plateau_steps'])} = the same number of student-step "
            f"equivalents, val MR there {_ci(long['plateau_val_mr'])}. Per-seed validation curves are in the .json.",
        ]
    else:
        lines += [
            "",
            f"The baseline trained until its validation recall stops rising ({long['steps']} steps, validation every "
            f"{VAL_EVERY}) has no finished run yet; rerunning the script runs it. 'Val rise, last 2 vals' is the "
            "validation MR gained over a run's last two validations (e.g. steps 400 -> 560).",
        ]
    return "\n".join(lines) + "\n"


def multi_positive(exp: DefaultsExperiment, setup: Setup, command: str) -> tuple[dict, str]:
    ft = setup.fine_tune
    rows = {
        f"from scratch, {setup.multi_positive_steps} steps (lr 2e-3, warmup 50)": _paired(exp, MULTI_POSITIVE_ARMS),
        f"fine-tuned from {FINE_TUNE_START}, {ft.steps} steps (lr {ft.lr}, warmup {FINE_TUNE_WARMUP})": _paired(
            exp, FINE_TUNE_ARMS
        ),
    }
    start = f"{exp.test_mr('generic-ft-start'):.2f}" if exp.finished("generic-ft-start") else "–"
    text = [
        "# --multi-positive on label-like data\n",
        f"Command: `{command}`\n",
        "`generic` = synth 3000/300/500 (seed 0) where every image of every split keeps only its most shared caption "
        "string, one text id per string listing all its images (train: 1,875 text ids for 3,000 images, about 14 "
        "pairs of a random 128-batch share a caption; benchmarks/train_options.py keep_most_shared_caption). "
        "`tiny` at batch 128, the same seeds and data order for both losses (same compute; the soft targets cost "
        "O(batch^2)). Test split of `generic` (247 texts for 500 images); MR x100, both directions; mean [95 % "
        f"t-interval] over the seeds; the difference is paired by seed. The fine-tuning start scores {start} on "
        "this test split before fine-tuning.\n",
        "| Recipe | Seeds | InfoNCE | --multi-positive | multi-positive - InfoNCE |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {recipe} | {len(row['seeds'])} | {_ci(row['infonce'])} | {_ci(row['multipos'])} | {_ci(row['diff'])} |"
            for recipe, row in rows.items()
        ),
    ]
    return rows, "\n".join(text) + "\n"


def _paired(exp: DefaultsExperiment, arms: tuple[str, str]) -> dict:
    seeds = [s for s in MULTI_POSITIVE_SEEDS if all(exp.finished(f"{a}-s{s}") for a in arms)]
    infonce, multipos = ([exp.test_mr(f"{a}-s{s}") for s in seeds] for a in arms)
    diffs = [m - i for m, i in zip(multipos, infonce, strict=True)]
    return {"seeds": seeds, "infonce": interval(infonce), "multipos": interval(multipos), "diff": interval(diffs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/distill_defaults"))
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time")
    parser.add_argument("--tables-only", action="store_true", help="write the tables from the finished runs only")
    args = parser.parse_args(argv)
    setup = Setup()
    plan = Plan(synth=(3000, 300, 500), teachers=(), student=setup.student, seeds=SEEDS, ablation_seeds=SEEDS)
    exp = DefaultsExperiment(plan, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    exp.make_data()
    generic = args.out / "generic"
    if not (generic / "train_texts.jsonl").is_file():
        keep_most_shared_caption(exp.data, generic)
    budget = compute_budget(setup.student)
    with ThreadPoolExecutor(args.parallel) as pool:
        for future in [pool.submit(run) for run in ([] if args.tables_only else jobs(exp, setup, budget, generic))]:
            future.result()
    command = "OMP_NUM_THREADS=1 python benchmarks/distill_defaults.py --parallel 2"
    result = summarize(exp, setup, budget)
    mp_rows, mp_text = multi_positive(exp, setup, command)
    RESULTS.mkdir(exist_ok=True)
    for name, data, text in (
        ("distill_defaults", result, markdown(result, command)),
        ("multi_positive", mp_rows, mp_text),
    ):
        (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        (RESULTS / f"{name}.md").write_text(text)
        print(text)
    shutil.copyfile(exp.runner.log, RESULTS / "distill_defaults.commands.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
