"""The summary table `make reliability` prints: one row per check."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field

HEADERS = (
    "check",
    "requests sent / failed",
    "p50 / p99 ms",
    "faults injected / survived",
    "files tried / rejected with reason",
    "data lost (bytes)",
    "result",
)


@dataclass
class Row:
    check: str
    sent: int | None = None
    failed: int | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    faults: int | None = None
    survived: int | None = None
    files_tried: int | None = None
    files_rejected: int | None = None
    bytes_lost: int | None = None
    ok: bool = True
    note: str = ""  # what was run, and why a check failed
    reasons: Counter = field(default_factory=Counter)  # skip reason -> files

    def cells(self) -> list[str]:
        return [
            self.check,
            _pair(self.sent, self.failed),
            _pair(_ms(self.p50_ms), _ms(self.p99_ms)),
            _pair(self.faults, self.survived),
            _pair(self.files_tried, self.files_rejected),
            "" if self.bytes_lost is None else f"{self.bytes_lost:,}",
            "PASS" if self.ok else "FAIL",
        ]


def _pair(a, b) -> str:
    if a is None and b is None:
        return ""
    return f"{_num(a)} / {_num(b)}"


def _num(value) -> str:
    return value if isinstance(value, str) else ("-" if value is None else f"{value:,}")


def _ms(value: float | None) -> str | None:
    return None if value is None or math.isnan(value) else f"{value:.0f}"


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    notes = [f"- **{row.check}**: {row.note}" for row in rows if row.note]
    reasons = Counter()
    for row in rows:
        reasons.update(row.reasons)
    if reasons:
        lines += ["", "| skip reason (first words) | files |", "|---|---|"]
        lines += [f"| {reason} | {count} |" for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def as_json(rows: list[Row]) -> str:
    return json.dumps([{**asdict(r), "reasons": dict(r.reasons)} for r in rows], ensure_ascii=False, indent=1)


def from_json(text: str) -> list[Row]:
    return [Row(**{**row, "reasons": Counter(row["reasons"])}) for row in json.loads(text)]


def merged(previous: list[Row], fresh: list[Row]) -> list[Row]:
    """`previous` with the rows of the checks run again replaced by their `fresh` rows (new checks last)."""
    by_check = {row.check: row for row in fresh}
    out = [by_check.pop(row.check, row) for row in previous]
    return out + list(by_check.values())
