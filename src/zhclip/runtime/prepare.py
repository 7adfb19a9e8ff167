"""A model's conversions (an ONNX export, OpenVINO int8 towers) and the timing of its paths for
`precision="auto"`, done by a child process (`child.main`) that exits.

So the caller's process never converts: it never holds PyTorch, OpenVINO and NNCF at once (together they once
crashed a process, issue 29) nor what converting and timing eight paths of ViT-B-16 takes (7.5 GB). The child
writes every conversion and the plan atomically (see `cache`, `plans`): a killed child leaves no half-written
entry. One child runs at a time per model: it holds `prepare/KEY.lock` in the cache folder while it works, and
logs what it does, a line per path with elapsed time and ETA, to `prepare/KEY.log`.

`zhclip.load` waits for the child. A command (`zhclip index`, `search`, `serve`) does not: it starts the child in
the background (`start`), says so in one line naming the log, and runs PyTorch fp32 until the prepared paths
load. If the command ends first, the child goes on in a session of its own (Ctrl-C on the command leaves it) at a
lower CPU priority and exits when done, so that the next command starts on the prepared paths: what was paid for
is kept, and a command is never held up by it."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from ..models.config import ClipConfig
from .cache import cache_root

log = logging.getLogger(__name__)

# The child's command, before the request's arguments (`-c`: `-m` would import this module twice, as the package
# imports it first).
CHILD_COMMAND = [sys.executable, "-c", "import sys; from zhclip.runtime.child import main; sys.exit(main())"]
BUSY = 75  # the child's exit status when another child prepares the same model (EX_TEMPFAIL)
BACKGROUND_NICENESS = 10  # a background child yields the CPU to the command that uses the model meanwhile


@dataclass(frozen=True)
class Request:
    """What to prepare: the paths `load(source, "cpu", precision, arch, runtime, context_length)` opens;
    `measure`: time the paths to choose a plan (`precision="auto"`), else only convert."""

    source: str
    precision: str = "auto"
    runtime: str = "auto"
    arch: str | ClipConfig | None = None
    context_length: int | None = None
    measure: bool = True

    def argv(self, background: bool) -> list[str]:
        argv = [*CHILD_COMMAND, self.source, "--precision", self.precision, "--runtime", self.runtime]
        if isinstance(self.arch, ClipConfig):
            argv += ["--arch-json", json.dumps(self.arch.to_dict())]
        elif self.arch is not None:
            argv += ["--arch", self.arch]
        argv += ["--context-length", str(self.context_length)] if self.context_length else []
        return argv + (["--background"] if background else []) + ([] if self.measure else ["--convert-only"])

    @property
    def key(self) -> str:
        """One lock and one log per model (a checkpoint's absolute path, or a hub id)."""
        local = Path(self.source).expanduser()
        name = str(local.absolute()) if local.exists() else self.source
        return hashlib.blake2b(name.encode(), digest_size=8).hexdigest()


def folder() -> Path:
    path = cache_root() / "prepare"
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_path(key: str) -> Path:
    return folder() / f"{key}.lock"


def log_path(key: str) -> Path:
    return folder() / f"{key}.log"


@dataclass
class Preparation:
    """A child preparing a model: ours (`process`), or another process's when one was already at work."""

    request: Request
    process: subprocess.Popen | None

    @property
    def log(self) -> Path:
        return log_path(self.request.key)

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return is_locked(self.request.key)

    def wait(self) -> bool | None:
        """True when our child prepared the model, False when it failed (see the log); None when another
        process's child held the model (waited for), so what it prepared may not be what we asked for."""
        if self.process is not None and (code := self.process.wait()) != BUSY:
            if code != 0:
                log.warning("preparing %s failed (exit status %d); see %s", self.request.source, code, self.log)
            return code == 0
        with FileLock(lock_path(self.request.key)):
            return None


def is_locked(key: str) -> bool:
    lock = FileLock(lock_path(key))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def start(request: Request, background: bool = True) -> Preparation:
    """The child preparing `request`'s model: a new one, or the one already at work on it (no second is
    started). A background child runs on after this process exits, in a session of its own."""
    if is_locked(request.key):
        return Preparation(request, None)
    with open(log_path(request.key), "a", encoding="utf-8") as out:
        process = subprocess.Popen(
            request.argv(background),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=background,
        )
    return Preparation(request, process)


def run(request: Request) -> bool:
    """Prepare `request` in a child and wait for it (after any other child at work on the same model);
    False when the child failed."""
    while (done := start(request, background=False).wait()) is None:
        pass  # another process's child finished: ours now finds its conversions cached
    return done
