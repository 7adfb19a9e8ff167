"""The READMEs and the docs site stay true to the code: every `zhclip ...` command in their code blocks parses with
that command's parser, the generated pages (CLI reference, measured results, the READMEs' headline table) are
up to date, and `zhclip --version` is the project's version."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from zhclip.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", REPO / "README.zh-CN.md", *(REPO / "docs").rglob("*.md")])
FENCE = re.compile(r"^\s*(```|~~~)")
ENV_PREFIX = re.compile(r"^(?:\$\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*")
MAX_README_LINES = 200


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, command) of every line in a code block that runs `zhclip` (continuation lines joined)."""
    found, in_code, pending = [], False, None
    for number, raw in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(raw):
            in_code, pending = not in_code, None
            continue
        if not in_code:
            continue
        if pending is not None:
            start, text = pending
            text += " " + raw.strip()
        else:
            start, text = number, ENV_PREFIX.sub("", raw.strip())
        if text.endswith("\\"):
            pending = (start, text[:-1])
            continue
        pending = None
        if text.startswith("zhclip "):
            found.append((start, text))
    return found


def parse_error(command: str) -> str | None:
    """Why `command` does not parse with its command's parser (None when it does)."""
    argv = shlex.split(command, comments=True)[1:]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    except SystemExit as exc:
        return None if exc.code == 0 else errors.getvalue().strip().splitlines()[-1]
    return None


DOC_COMMANDS = [(page, line, command) for page in PAGES for line, command in command_lines(page)]


def test_the_docs_show_commands():
    pages = {page.name for page, _, _ in DOC_COMMANDS}
    assert {"README.md", "README.zh-CN.md", "search.md", "training.md"} <= pages


@pytest.mark.parametrize(
    ("page", "line", "command"),
    DOC_COMMANDS,
    ids=[f"{p.relative_to(REPO)}:{n}" for p, n, _ in DOC_COMMANDS],
)
def test_every_documented_command_parses(page: Path, line: int, command: str):
    error = parse_error(command)
    assert error is None, f"{page.relative_to(REPO)}:{line}: `{command}` does not parse: {error}"


def test_a_wrong_command_is_caught():
    assert parse_error("zhclip search 海边 --no-such-flag") is not None
    assert parse_error("zhclip serve") is not None  # --db is required
    assert parse_error("zhclip search 海边 --db lib.db  # a comment") is None


def test_the_cli_reference_is_up_to_date():
    render_cli = _module(REPO / "docs" / "render_cli.py")
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == render_cli.render(), (
        "docs/cli.md is out of date: run python docs/render_cli.py"
    )


def test_the_results_pages_are_up_to_date():
    render_results = _module(REPO / "benchmarks" / "render_results.py")
    stale = render_results.stale(render_results.render())
    assert not stale, (
        f"out of date: {[str(p.relative_to(REPO)) for p in stale]}: run python -m benchmarks.render_results"
    )


def test_the_readmes_are_short_and_show_the_page():
    for readme in (REPO / "README.md", REPO / "README.zh-CN.md"):
        text = readme.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= MAX_README_LINES, readme.name
        assert "docs/images/search-page.png" in text, readme.name
    assert (REPO / "docs" / "images" / "search-page.png").is_file()


def test_version_is_the_projects():
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
    result = subprocess.run(
        [sys.executable, "-m", "zhclip", "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == f"zhclip {version.group(1)}"
