"""`make reliability`: the long reliability and security checks, then one summary table.

    .venv/bin/python -m benchmarks.reliability.run [--quick] [--out benchmarks/results/reliability]

Everything runs on this machine: a tiny random model, generated libraries, servers on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from . import checks
from .report import Row, as_json, from_json, markdown, merged

QUICK = {
    "items": 20_000,
    "clients": 16,
    "seconds": 15.0,
    "kills": 20,
    "train_kills": 3,
    "fuzz_examples": 25,
    "photos": 80,
    "videos": 3,
    "churn_rounds": 2,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks.reliability.run", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/reliability"))
    p.add_argument("--quick", action="store_true", help="smaller numbers (a few minutes instead of ~20)")
    p.add_argument("--only", nargs="*", help="run only the checks whose name contains one of these words")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument(
        "--update", action="store_true", help="keep the rows of OUT/summary.json for the checks not run this time"
    )
    return p.parse_args(argv)


def tiny_model(folder: Path) -> Path:
    from zhclip.models import random_model, save_cnclip

    network = random_model("tiny", seed=1234)
    return save_cnclip(network.state_dict(), network.config, folder / "tiny.pt")


def plan(settings: checks.Settings) -> list[tuple[str, callable]]:
    work = settings.work
    return [
        ("fuzz", lambda: checks.check_fuzz(settings)),
        ("load", lambda: checks.check_load(settings)),
        ("index kills", lambda: checks.check_index_kills(settings)),
        ("train kills", lambda: checks.check_train_kills(settings)),
        ("hostile files", lambda: checks.check_hostile_files(settings)),
        ("churn", lambda: checks.check_churn(settings)),
        (
            "environment",
            lambda: checks.check_pytest(
                "environment faults (pytest)",
                "tests/reliability/test_environment_faults.py",
                "tests/reliability/test_hostile_files.py",
                work=work,
            ),
        ),
        (
            "web security",
            lambda: checks.check_pytest(
                "web security (pytest)",
                "tests/reliability/test_web_security.py",
                "tests/reliability/test_fuzz.py",
                work=work,
            ),
        ),
        (
            "training safety",
            lambda: checks.check_pytest(
                "training safety (pytest)", "tests/reliability/test_train_safety.py", work=work
            ),
        ),
    ]


def run_check(name: str, check) -> Row:
    started = time.monotonic()
    print(f"== {name} ...", flush=True)
    try:
        row = check()
    except Exception as exc:  # one broken check must not hide the others
        row = Row(name, ok=False, note=f"the check itself failed: {type(exc).__name__}: {exc}")
    print(f"   {'PASS' if row.ok else 'FAIL'} in {time.monotonic() - started:.0f} s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="zhclip-reliability-"))
    settings = checks.Settings(work=work, model=tiny_model(work))
    if args.quick:
        settings = replace(settings, **QUICK)
    selected = [(n, c) for n, c in plan(settings) if not args.only or any(w in n for w in args.only)]
    try:
        rows = [run_check(name, check) for name, check in selected]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    previous = args.out / "summary.json"
    if args.update and previous.is_file():
        rows = merged(from_json(previous.read_text(encoding="utf-8")), rows)
    table = markdown(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text(table, encoding="utf-8")
    (args.out / "summary.json").write_text(as_json(rows), encoding="utf-8")
    print("\n" + table)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
