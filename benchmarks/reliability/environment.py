"""The machine misbehaving: a small or read-only filesystem (tmpfs), an unprivileged user (tests run as
root, which ignores file permissions), and log capture to check that every skipped file was reported."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534


class MountNotPermitted(RuntimeError):
    """This machine does not let us mount a tmpfs (not root, or in a container without CAP_SYS_ADMIN)."""


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. '600k') mounted at `path` while the block runs."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise MountNotPermitted(done.stderr.strip() or f"mount exited with {done.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, options: str) -> None:
    """Change a tmpfs mounted by `tmpfs`: 'ro', 'rw', 'size=64m', ..."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


def unprivileged() -> dict:
    """Keyword arguments for subprocess.Popen/run that drop root (file permissions then apply)."""
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}


def shared_folder(prefix: str) -> Path:
    """A fresh folder an unprivileged user can reach (pytest's tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o777)
    return folder


def give_away(*paths: Path) -> None:
    """Let the unprivileged user own `paths` (a library database folder it must write in)."""
    if os.geteuid() == 0:
        for path in paths:
            os.chown(path, NOBODY, NOBODY)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def logged(logger: str = "zhclip") -> Iterator[list[str]]:
    """The messages `logger` emits while the block runs."""
    handler = _Collect()
    target = logging.getLogger(logger)
    previous = target.level
    target.addHandler(handler)
    target.setLevel(min(previous or logging.INFO, logging.INFO))
    try:
        yield handler.messages
    finally:
        target.removeHandler(handler)
        target.setLevel(previous)


def as_unprivileged(target, timeout: float = 300):
    """`target()` in a forked child that dropped root (so permissions apply); returns what it returned.
    A fork, not a new interpreter: the interpreter itself may live where that user cannot read."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_drop_and_run, args=(target, send), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise TimeoutError(f"unprivileged run took more than {timeout} s")
        ok, value = receive.recv()
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
    if not ok:
        raise RuntimeError(f"unprivileged run failed: {value}")
    return value


def _drop_and_run(target, send) -> None:
    import torch

    torch.set_num_threads(1)  # OpenMP does not survive fork
    try:
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        send.send((True, target()))
    except Exception as exc:  # reported to the parent
        send.send((False, f"{type(exc).__name__}: {exc}"))
