"""`zhclip --help` and argument errors answer at once: only the command's own module is imported, and no module
imports PyTorch before a command runs."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from zhclip.cli import COMMANDS, build_parser

PROBE = """
import json, sys
from zhclip.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("torch", "numpy", "transformers", "PIL", "fastapi") if m in sys.modules)
from zhclip.cli import COMMANDS
cli = sorted(m for m in sys.modules if m.startswith("zhclip.cli.") and m.split(".")[-1] in COMMANDS.values())
print(json.dumps({"code": code, "heavy": heavy, "cli": cli}))
"""


def startup(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("argv", "code", "module"),
    [
        (["--help"], 0, None),
        (["--version"], 0, None),
        (["index", "--help"], 0, "zhclip.cli.search"),
        (["index"], 2, "zhclip.cli.search"),  # missing arguments
        (["train", "--epochs", "x"], 2, "zhclip.cli.train"),
        (["no-such-command"], 2, None),
    ],
)
def test_help_and_argument_errors_import_no_heavy_module(argv, code, module):
    result = startup(*argv)
    assert result["code"] == code and result["heavy"] == [], result
    if module is not None:
        assert result["cli"] == [module], result


def _registered(module: str) -> set[str]:
    subparsers = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"zhclip.cli.{module}").register(subparsers)
    return set(subparsers.choices)


def test_the_command_table_matches_what_the_modules_register():
    for module in set(COMMANDS.values()):
        assert _registered(module) == {c for c, m in COMMANDS.items() if m == module}, module
    full = build_parser()
    choices = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(choices) == set(COMMANDS)
