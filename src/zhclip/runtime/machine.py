"""What machine a measurement ran on: the CPU's model name and the instruction-set flags that decide which
kernels run (AVX2, AVX-512, VNNI, AMX, bf16/fp16 dot products), and the GPU when there is one."""

from __future__ import annotations

import os

from ..cpu import cpu_info, first_processor

# Flags that change GEMM speed, in the order they are reported (the Linux /proc/cpuinfo names).
KERNEL_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def cpuinfo() -> str:
    """Model name and flags of the first CPU (what decides which kernels run), as one text."""
    info = cpu_info()
    return f"{info.model}\n{' '.join(sorted(info.flags))}"


def cpu_model_and_flags(info: str | None = None) -> tuple[str, set[str]]:
    """(model name, set of flags) of this CPU, or parsed from /proc/cpuinfo-style text."""
    if info is None:
        found = cpu_info()
        return found.model, set(found.flags)
    model, flags = first_processor(info.splitlines())
    return model, set(flags)


def describe_machine(info: str | None = None) -> str:
    """One line for every benchmark's output: CPU model, cores, torch threads, kernel flags present and missing,
    and the GPU if CUDA has one."""
    import torch

    model, flags = cpu_model_and_flags(info)
    present = [f for f in KERNEL_FLAGS if f in flags]
    missing = [f for f in KERNEL_FLAGS if f not in flags]
    line = (
        f"machine: {model}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"flags: {' '.join(present) or 'none of ' + '/'.join(KERNEL_FLAGS)}"
    )
    if present and missing:
        line += f" (not: {' '.join(missing)})"
    if torch.cuda.is_available():
        line += f"; GPU: {torch.cuda.get_device_name()}"
    return line
