"""The loss / validation-recall PNG of a run, drawn from its metrics.jsonl entries."""

from __future__ import annotations

from pathlib import Path


def plot_curves(entries: list[dict], out: Path, title: str = "") -> Path | None:
    """Training loss (left axis) and validation mean recall (right axis) against step; None if no data."""
    train = [e for e in entries if e.get("kind") == "train"]
    val = [e for e in entries if e.get("kind") == "val"]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([e["step"] for e in train], [e["loss"] for e in train], color="tab:blue", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="tab:blue")
    if val:
        ax2 = ax.twinx()
        ax2.plot(
            [e["step"] for e in val],
            [e["mean_recall"] for e in val],
            "o-",
            color="tab:orange",
            label="val mean recall",
        )
        ax2.set_ylabel("validation mean recall (%)", color="tab:orange")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
