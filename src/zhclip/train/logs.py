"""A run's files: logs/train.log, logs/metrics.jsonl, logs/curves.png and summary.json (rank 0 writes)."""

from __future__ import annotations

import json
import logging
import resource
import sys
from pathlib import Path

import torch

from ..io import write_json, write_jsonl

log = logging.getLogger("zhclip.train")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process: CUDA allocator peak on GPUs, max resident set size on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


class RunFiles:
    """Paths of one run directory, and the metrics/log writers (no-ops on ranks other than 0)."""

    def __init__(self, out: Path, enabled: bool):
        self.out = Path(out)
        self.enabled = enabled
        self.checkpoints = self.out / "checkpoints"
        self.logs = self.out / "logs"
        self.metrics = self.logs / "metrics.jsonl"
        self.curves = self.logs / "curves.png"
        self.summary = self.out / "summary.json"
        self.hf = self.out / "hf"
        self._handler: logging.Handler | None = None

    def open(self, resume_step: int | None) -> None:
        """Create the folders and attach train.log; on resume drop metrics logged after the checkpoint."""
        if not self.enabled:
            return
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.metrics.unlink(missing_ok=True)
        else:
            self._truncate_metrics(resume_step)
        self._handler = logging.FileHandler(self.logs / "train.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger("zhclip").addHandler(self._handler)
        if logging.getLogger("zhclip").getEffectiveLevel() > logging.INFO:
            logging.getLogger("zhclip").setLevel(logging.INFO)

    def close(self) -> None:
        if self._handler is not None:
            logging.getLogger("zhclip").removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def record(self, entry: dict) -> None:
        if self.enabled:
            with self.metrics.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text(encoding="utf-8").splitlines() if line.strip()]

    def write_summary(self, summary: dict) -> None:
        if self.enabled:
            write_json(self.summary, summary)

    def _truncate_metrics(self, step: int) -> None:
        kept = [e for e in self.read_metrics() if e.get("step", 0) <= step]
        write_jsonl(self.metrics, kept)


def summarize(entries: list[dict], extra: dict) -> dict:
    """The run's efficiency summary from its metrics: final loss, best validation and when it came."""
    steps = [e for e in entries if e.get("kind") == "train"]
    vals = [e for e in entries if e.get("kind") == "val"]
    best = max(vals, key=lambda e: e["mean_recall"], default=None)
    return {
        **extra,
        "final_loss": steps[-1]["loss"] if steps else None,
        "best_val_mean_recall": best["mean_recall"] if best else None,
        "steps_to_best_val": best["step"] if best else None,
        "final_val_mean_recall": vals[-1]["mean_recall"] if vals else None,
    }
