"""What this CPU offers, read without importing PyTorch: the model name and the instruction sets that decide
which kernels run (AVX2, AVX-512, VNNI, AMX on x86; NEON/SVE/bf16/i8mm on ARM); and a check that the installed
PyTorch build runs on it at all, so an old CPU gets a clear message instead of a silent `Illegal instruction`."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UnsupportedError

X86_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
ARM_FLAGS = ("asimd", "asimddp", "sve", "sve2", "bf16", "i8mm")
# PyTorch's x86 wheels assume AVX2 in places (FBGEMM, some default code paths): a CPU without it may stop with
# SIGILL while `import torch` runs. Only such CPUs pay for the probe below.
TORCH_X86_BASELINE = ("avx", "avx2")
PROBE = "import torch; torch.ones(256, 256) @ torch.ones(256, 256)"
PROBE_TIMEOUT_S = 120


@dataclass(frozen=True)
class CpuInfo:
    model: str
    machine: str
    logical_cpus: int
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_x86(self) -> bool:
        return self.machine.lower() in ("x86_64", "amd64", "i686", "x86")

    def features(self) -> dict[str, bool]:
        """The instruction sets that matter here, each present or not ({} where the OS does not list flags)."""
        if not self.flags:
            return {}
        return {flag: flag in self.flags for flag in (X86_FLAGS if self.is_x86 else ARM_FLAGS)}

    def missing_torch_baseline(self) -> list[str]:
        return [f for f in TORCH_X86_BASELINE if f not in self.flags] if self.is_x86 and self.flags else []


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """This machine's CPU (Linux: the first processor block of /proc/cpuinfo; elsewhere what `platform` says)."""
    model, flags = platform.processor() or "unknown", frozenset()
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            model, flags = first_processor(f)
    except OSError:
        pass
    if sys.platform == "darwin":
        model = _sysctl("machdep.cpu.brand_string") or model
    return CpuInfo(model, platform.machine(), os.cpu_count() or 1, flags)


def first_processor(lines) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor block of /proc/cpuinfo-style lines."""
    model, flags = "unknown", frozenset()
    for line in lines:
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and model == "unknown":
            model = value.strip()
        elif key in ("flags", "features"):
            flags = frozenset(value.split())
        elif not line.strip() and flags:
            break  # end of the first processor's block
    return model, flags


def _sysctl(name: str) -> str | None:
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def torch_version() -> str | None:
    """The installed PyTorch's version, without importing it."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def probe_torch(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when PyTorch imports and multiplies in a child process; else what went wrong, in words."""
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"importing PyTorch took over {timeout:.0f} s"
    if done.returncode == 0:
        return None
    if done.returncode == -signal.SIGILL:
        return "importing PyTorch stopped with 'Illegal instruction' (SIGILL)"
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return f"importing PyTorch failed: {last}"


def check_torch_runs(info: CpuInfo | None = None) -> None:
    """Raise UnsupportedError when this CPU lacks what the PyTorch build needs and PyTorch indeed fails on it."""
    info = info or cpu_info()
    missing = info.missing_torch_baseline()
    if not missing:
        return
    problem = probe_torch()
    if problem is not None:
        raise UnsupportedError(too_old_message(info, missing, problem))


def too_old_message(info: CpuInfo, missing: list[str], problem: str) -> str:
    return (
        f"this CPU ({info.model}) lacks {', '.join(missing).upper()}, which the installed PyTorch "
        f"{torch_version() or '(unknown version)'} build needs: {problem}. Run zhclip on a CPU with AVX2 "
        "(Intel since 2013, AMD since 2015), or install a PyTorch built for this CPU (from source)"
    )
