"""The child process that `prepare` starts: it builds (and for `auto` times) the paths a request names, holding
the model's lock meanwhile, and exits (0: prepared; `prepare.BUSY`: another child holds the model; 1: failed)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from filelock import FileLock, Timeout

from ..errors import ZhclipError
from ..models.config import ClipConfig
from .loader import convert_here, open_runtime
from .prepare import BACKGROUND_NICENESS, BUSY, Request, lock_path

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    arch = ClipConfig.from_dict(json.loads(args.arch_json)) if args.arch_json else args.arch
    request = Request(args.source, args.precision, args.runtime, arch, args.context_length, not args.convert_only)
    if args.background and hasattr(os, "nice"):  # POSIX
        os.nice(BACKGROUND_NICENESS)
    try:
        with FileLock(lock_path(request.key), timeout=0):
            log.warning("preparing %s (pid %d)", request.source, os.getpid())
            prepare(request)
    except Timeout:
        log.warning("another process is preparing %s; leaving it to that one", request.source)
        return BUSY
    except ZhclipError as exc:
        log.error("cannot prepare %s: %s", request.source, exc)
        return 1
    log.warning("prepared %s", request.source)
    return 0


def prepare(request: Request) -> None:
    """Build (and, for `auto`, time) here the paths `request` names: what the child runs."""
    base = open_runtime(request.source, "cpu", request.arch, request.context_length)
    convert_here(base, request.precision, request.runtime, request.measure)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhclip-prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--arch")
    parser.add_argument("--arch-json")
    parser.add_argument("--context-length", type=int)
    parser.add_argument("--background", action="store_true", help="run at a lower CPU priority")
    parser.add_argument("--convert-only", action="store_true", help="build the conversions without timing paths")
    return parser
