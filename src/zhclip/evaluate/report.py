"""A comparison report across models: one Markdown table (one row per model) and a PNG bar chart.

Every number is read from files that `zhclip eval` wrote under the run directories given:
`retrieval_summary.json` (model facts, encode speed) with the Chinese-CLIP metrics JSON files it names,
and `zeroshot_metrics.json`. Nothing is typed in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import atomic_path
from .recall import DIRECTIONS, Recall, recall_from_json
from .retrieval import SUMMARY_FILE
from .zeroshot import METRICS_FILE as ZEROSHOT_FILE

DIRECTION_LABELS = {"t2i": "T→I", "i2t": "I→T"}
RECALL_KEYS = ("r1", "r5", "r10", "mean_recall")
RECALL_LABELS = ("R@1", "R@5", "R@10", "MR")
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei")


@dataclass(frozen=True)
class RetrievalResult:
    summary: dict[str, Any]
    recall: dict[str, Recall]  # by direction name
    source: Path

    @property
    def model(self) -> str:
        return self.summary["model"]

    @property
    def dataset(self) -> str:
        return f"{self.summary['dataset']}/{self.summary['split']}"


@dataclass(frozen=True)
class ZeroshotResult:
    metrics: dict[str, Any]
    source: Path


def collect(run_dirs: list[str | Path]) -> tuple[list[RetrievalResult], list[ZeroshotResult]]:
    """Every retrieval summary and zero-shot metrics file below the given directories."""
    retrieval, zeroshot = [], []
    for run_dir in map(Path, run_dirs):
        if not run_dir.is_dir():
            raise InputError(run_dir, "not a directory")
        found = sorted(run_dir.rglob(SUMMARY_FILE))
        retrieval += [_retrieval_result(path) for path in found]
        zeroshot += [ZeroshotResult(_read_json(path), path) for path in sorted(run_dir.rglob(ZEROSHOT_FILE))]
        if not found and not any(z.source.is_relative_to(run_dir) for z in zeroshot):
            raise InputError(run_dir, f"no {SUMMARY_FILE} or {ZEROSHOT_FILE} below it (run `zhclip eval` first)")
    _check_unique([(r.model, r.dataset, r.source) for r in retrieval])
    _check_unique([(z.metrics["model"], z.metrics["dataset"], z.source) for z in zeroshot])
    return retrieval, zeroshot


def _retrieval_result(path: Path) -> RetrievalResult:
    summary = _read_json(path)
    try:
        files = summary["files"]
        recall = {
            name: recall_from_json(
                _read_json(path.parent / files[f"{name}_metrics"]), path.parent / files[f"{name}_metrics"]
            )
            for name in DIRECTIONS
        }
    except (KeyError, TypeError) as exc:
        raise InputError(path, f"not a zhclip retrieval summary: missing {exc}") from None
    return RetrievalResult(summary, recall, path)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not JSON: {exc.msg}", line=exc.lineno) from None


def _check_unique(keys: list[tuple[str, str, Path]]) -> None:
    seen: dict[tuple[str, str], Path] = {}
    for model, dataset, source in keys:
        if (model, dataset) in seen:
            raise InputError(
                source,
                f"model {model!r} on {dataset!r} also in {seen[model, dataset]}; evaluate with different --name values",
            )
        seen[model, dataset] = source


# ------------------------------------------------------------------ table


def comparison_table(retrieval: list[RetrievalResult], zeroshot: list[ZeroshotResult]) -> list[list[str]]:
    """Header row then one row per model: size, parameters, encode speed, then R@1/R@5/R@10/MR per
    dataset and direction, then zero-shot top-1/top-5 per dataset."""
    models = _unique([r.model for r in retrieval] + [z.metrics["model"] for z in zeroshot])
    datasets = _unique([r.dataset for r in retrieval])
    zs_datasets = _unique([z.metrics["dataset"] for z in zeroshot])
    header = ["Model", "Params (M)", "Size (MB)", "Images/s", "Texts/s"]
    header += [f"{d} {DIRECTION_LABELS[k]} {m}" for d in datasets for k in DIRECTIONS for m in RECALL_LABELS]
    header += [f"{d} {m}" for d in zs_datasets for m in ("top-1", "top-5")]
    rows = [header]
    for model in models:
        runs = {r.dataset: r for r in retrieval if r.model == model}
        shots = {z.metrics["dataset"]: z.metrics for z in zeroshot if z.metrics["model"] == model}
        facts = next(iter(runs.values())).summary if runs else next(iter(shots.values()))
        row = [
            model,
            f"{facts['params'] / 1e6:.2f}",
            f"{facts['size_mb']:.1f}",
            _number(facts.get("image_per_s"), 1),
            _number(facts.get("text_per_s"), 1),
        ]
        for dataset in datasets:
            for direction in DIRECTIONS:
                recall = runs[dataset].recall[direction].as_dict() if dataset in runs else {}
                row += [_number(recall.get(key), 2) for key in RECALL_KEYS]
        for dataset in zs_datasets:
            row += [_number(shots.get(dataset, {}).get(key), 2) for key in ("top1", "top5")]
        rows.append(row)
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    header, *body = rows
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ------------------------------------------------------------------ chart and report


def render_chart(retrieval: list[RetrievalResult], zeroshot: list[ZeroshotResult], out: Path) -> Path:
    """One panel per dataset and direction (R@1, R@5, R@10, MR per model), plus zero-shot accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    panels = [(d, k) for d in _unique([r.dataset for r in retrieval]) for k in DIRECTIONS]
    panels += [(d, "zero-shot") for d in _unique([z.metrics["dataset"] for z in zeroshot])]
    with plt.rc_context({"font.family": ["DejaVu Sans", *[f for f in CJK_FONTS if f in installed]]}):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
        for ax, (dataset, kind) in zip(axes[0], panels, strict=True):
            _panel(ax, dataset, kind, retrieval, zeroshot)
        fig.tight_layout()
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
        plt.close(fig)
    return out


def _panel(ax: Any, dataset: str, kind: str, retrieval: list[RetrievalResult], zeroshot: list[ZeroshotResult]) -> None:
    if kind == "zero-shot":
        bars = {
            z.metrics["model"]: [z.metrics["top1"], z.metrics["top5"]]
            for z in zeroshot
            if z.metrics["dataset"] == dataset
        }
        metrics, title = ["top-1", "top-5"], f"{dataset} (zero-shot)"
    else:
        bars = {
            r.model: [r.recall[kind].as_dict()[key] for key in RECALL_KEYS] for r in retrieval if r.dataset == dataset
        }
        metrics, title = list(RECALL_LABELS), f"{dataset} {DIRECTION_LABELS[kind]}"
    width = 0.8 / max(len(bars), 1)
    for i, (model, values) in enumerate(bars.items()):
        positions = [m + (i - (len(bars) - 1) / 2) * width for m in range(len(metrics))]
        ax.bar_label(ax.bar(positions, values, width, label=model), fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(metrics)), metrics)
    highest = max((v for values in bars.values() for v in values), default=0.0)
    ax.set_ylim(0, min(100.0, highest * 1.25 + 1))  # small numbers stay readable
    ax.set_title(title)
    ax.set_ylabel("%")
    ax.legend(fontsize="small")


@dataclass(frozen=True)
class WrittenReport:
    markdown: Path
    chart: Path
    table: list[list[str]]


def write_report(run_dirs: list[str | Path], out: str | Path) -> WrittenReport:
    """Write `out` (Markdown) and the chart next to it (same name, .png)."""
    retrieval, zeroshot = collect(run_dirs)
    out = Path(out)
    table = comparison_table(retrieval, zeroshot)
    chart = render_chart(retrieval, zeroshot, out.with_suffix(".png"))
    sources = [r.source for r in retrieval] + [z.source for z in zeroshot]
    text = "\n".join(
        [
            "# zhclip evaluation report",
            "",
            "Recall in % (Chinese-CLIP's definition: a query is a hit at K when any gold item is in its top K; "
            "MR = mean of R@1, R@5, R@10). Size = weight bytes at the evaluated precision; Images/s and "
            "Texts/s = feature extraction throughput (decode, preprocess, encode) on the device of the run.",
            "",
            markdown_table(table),
            "",
            f"![recall chart]({chart.name})",
            "",
            "Read from:",
            "",
            *[f"- `{path}`" for path in sources],
            "",
        ]
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return WrittenReport(out, chart, table)
