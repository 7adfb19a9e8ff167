"""A run's files: logs/train.log, logs/metrics.jsonl, logs/curves.png, summary.json and, with
`--report-to tensorboard`, TensorBoard event files in logs/tensorboard (rank 0 writes)."""

from __future__ import annotations

import importlib.util
import json
import logging
import resource
import sys
from pathlib import Path

import torch

from ..errors import UnsupportedError
from ..io import write_json, write_jsonl

log = logging.getLogger("zhclip.train")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process: CUDA allocator peak on GPUs, max resident set size on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


TENSORBOARD_HINT = "--report-to tensorboard needs the tensorboard package: pip install tensorboard"


def check_report_target(target: str | None) -> None:
    """UnsupportedError naming the package when the logging target's package is missing."""
    if target == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        raise UnsupportedError(TENSORBOARD_HINT)


class TensorBoardLog:
    """Metrics entries as TensorBoard scalars: train/* (losses, lr, logit scale, throughput) and val/* recall."""

    def __init__(self, directory: Path, resume_step: int | None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UnsupportedError(TENSORBOARD_HINT) from None
        self.writer = SummaryWriter(str(directory), purge_step=resume_step)  # drops events after the checkpoint

    def record(self, entry: dict) -> None:
        kind, step = entry.get("kind"), entry["step"]
        if kind == "train":
            scalars = {
                "loss": entry["loss"],
                **{f"loss_{name}": value for name, value in entry["losses"].items()},
                "lr": entry["lr"],
                "logit_scale": entry["logit_scale"],
                "samples_per_s": entry["samples_per_s"],
            }
        elif kind == "val":
            scalars = {key: entry[key] for key in ("mean_recall", "text_to_image", "image_to_text")}
        else:
            return
        for name, value in scalars.items():
            self.writer.add_scalar(f"{kind}/{name}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class RunFiles:
    """Paths of one run directory, and the metrics/log writers (no-ops on ranks other than 0)."""

    def __init__(self, out: Path, enabled: bool, report_to: str | None = None):
        self.out = Path(out)
        self.enabled = enabled
        self.report_to = report_to
        self.checkpoints = self.out / "checkpoints"
        self.logs = self.out / "logs"
        self.metrics = self.logs / "metrics.jsonl"
        self.curves = self.logs / "curves.png"
        self.summary = self.out / "summary.json"
        self.hf = self.out / "hf"
        self.tensorboard = self.logs / "tensorboard"
        self._handler: logging.Handler | None = None
        self._board: TensorBoardLog | None = None

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
        if self.report_to == "tensorboard":
            self._board = TensorBoardLog(self.tensorboard, resume_step)

    def close(self) -> None:
        if self._board is not None:
            self._board.close()
            self._board = None
        if self._handler is not None:
            logging.getLogger("zhclip").removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def record(self, entry: dict) -> None:
        if self.enabled:
            with self.metrics.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if self._board is not None:
            self._board.record(entry)

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
