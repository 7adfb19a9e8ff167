"""What machine a measurement ran on: the CPU's model name and the instruction-set flags that decide which
kernels run (AVX2, AVX-512, VNNI, AMX, bf16/fp16 dot products on x86; NEON dot products, i8mm, bf16 on ARM), and the
GPU when there is one; and which paths a CPU runs without the instructions that make them fast, so that `auto`
does not spend minutes measuring them there (`excluded_paths`)."""

from __future__ import annotations

import os
import platform

from ..cpu import ARM_FLAGS, CpuInfo, cpu_info, first_processor

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


def excluded_paths(names: list[str], info: CpuInfo) -> dict[str, str]:
    """Of the paths `names` (`torch-bf16`, `openvino-int8`, ...), those an ARM CPU runs without the instructions
    that make them worth measuring, each with the reason. x86 CPUs keep every path (one without bf16 dot products
    measures bf16 for a round and drops it as too slow), and so does a CPU whose flags the OS does not list."""
    if info.is_x86 or not info.flags:
        return {}
    reasons = {
        "openvino-int8": "OpenVINO's CPU plugin documents int8 inference for x86-64 only (on ARM it runs f32 and f16)"
    }
    if "bf16" not in info.flags:  # Cortex-A76, Neoverse N1 and older; Neoverse V1/N2 (Graviton3) have it
        reasons["torch-bf16"] = "this CPU has no bf16 dot-product instructions (PyTorch would emulate bf16)"
    return {name: reasons[name] for name in names if name in reasons}


def kernel_flags(machine: str | None = None) -> tuple[str, ...]:
    """The flags that decide GEMM speed on this kind of CPU (x86 or ARM)."""
    machine = (machine or platform.machine()).lower()
    return ARM_FLAGS if machine in ("aarch64", "arm64") else KERNEL_FLAGS


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
    wanted = kernel_flags()
    present = [f for f in wanted if f in flags]
    missing = [f for f in wanted if f not in flags]
    line = (
        f"machine: {model}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"flags: {' '.join(present) or 'none of ' + '/'.join(wanted)}"
    )
    if present and missing:
        line += f" (not: {' '.join(missing)})"
    if torch.cuda.is_available():
        from .gpu import gpu_info

        line += f"; GPU: {gpu_info().describe()}"
    return line
