"""The `zhclip` command. The module named for a command in `COMMANDS` registers it; this file only dispatches
and turns typed errors into one clear message and a non-zero exit code.

Only the module of the command being run is imported (all of them for the top-level help), and none of them
imports PyTorch at module level, so `--help` and argument errors answer at once."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..cpu import check_torch_runs
from ..errors import InputError, ZhclipError

COMMANDS = {  # command -> the module of zhclip.cli that registers it
    "info": "models",
    "convert": "models",
    "encode": "models",
    "train": "train",
    "distill": "train",
    "index": "search",
    "search": "search",
    "similar": "search",
    "dupes": "search",
    "serve": "search",
    "library": "library",
    "demo": "demo",
    "data": "data",
    "eval": "evaluate",
    "report": "evaluate",
    "export": "compress",
    "compress": "compress",
    "bench": "bench",
    "doctor": "doctor",
}

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with `command` registered (every command when it is None or unknown)."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="zhclip", description="Chinese-CLIP toolkit and material search.")
    parser.add_argument("--version", action="version", version=f"zhclip {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def _command(argv: list[str]) -> str | None:
    """The command word: the first argument that is not an option (no top-level option takes a value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command != "doctor":  # doctor reports the same problem among others
            check_torch_runs()
        return args.handler(args) or 0
    except ZhclipError as exc:
        print(f"zhclip {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        print(
            f"zhclip {args.command}: error: {InputError(exc.filename, exc.strerror or str(exc))}",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"zhclip {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
