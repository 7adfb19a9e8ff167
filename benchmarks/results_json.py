"""Where the benchmarks' JSON goes: `benchmarks/results/machines/<machine kind>/<benchmark>.json`, one file per
benchmark and kind of machine (the format: `zhclip.bench.results`). `benchmarks/render_results.py` turns them
into the docs' results pages and the README's headline table.

    .venv/bin/python -m benchmarks.results_json NAME   # prints this machine's path for NAME (for `make bench`)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from zhclip.bench.results import command_line, machine_record, results_document, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "machines"


def save(name: str, title: str, tables: list[dict], headlines=(), notes=(), data: dict | None = None) -> Path:
    """Writes this run's results, with the command that made them (this script and its arguments)."""
    program = f"python {os.path.relpath(sys.argv[0], REPO)}"
    document = results_document(name, title, command_line(program), tables, headlines, notes, data)
    path = write_results(document, RESULTS)
    print(f"wrote {os.path.relpath(path)}")
    return path


def path_for(name: str) -> Path:
    return RESULTS / machine_record("")["kind"] / f"{name}.json"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m benchmarks.results_json NAME")
    print(os.path.relpath(path_for(sys.argv[1])))
