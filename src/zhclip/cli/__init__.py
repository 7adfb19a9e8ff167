"""The `zhclip` command. Each module in `COMMAND_MODULES` registers its subcommands; this file only
dispatches and turns typed errors into one clear message and a non-zero exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import InputError, ZhclipError

COMMAND_MODULES = ["models", "train", "search", "demo", "data", "evaluate", "compress"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="zhclip", description="Chinese-CLIP toolkit and material search.")
    parser.add_argument("--version", action="version", version=f"zhclip {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
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
