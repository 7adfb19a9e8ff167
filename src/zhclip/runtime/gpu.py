"""Which NVIDIA GPU a plan or an engine is for: its model, compute capability and driver (a TensorRT engine is
valid only on the GPU model, driver and TensorRT version it was built with), and the GPU memory this process
holds as the driver counts it (NVML), for runtimes whose allocations PyTorch does not see.

NVML (`pynvml`, from the `nvidia-ml-py` package) is optional: without it the driver version comes from
`nvidia-smi`, and NVML memory is reported as unknown."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

UNKNOWN = "unknown"


@dataclass(frozen=True)
class GpuInfo:
    name: str  # "NVIDIA H100 80GB HBM3"
    capability: str  # "9.0"
    driver: str  # "570.124.06"
    memory_mb: int

    @property
    def key(self) -> str:
        """What a plan or an engine built on this GPU is valid for (file-name-safe)."""
        return f"{self.name.replace(' ', '_')}-sm{self.capability}-driver{self.driver}"

    def describe(self) -> str:
        return f"{self.name} (compute {self.capability}, driver {self.driver}, {self.memory_mb / 1024:.0f} GiB)"


def gpu_info(device: torch.device | str = "cuda") -> GpuInfo:
    """The GPU that `device` names, as CUDA reports it."""
    import torch

    index = torch.device(device).index or 0
    props = torch.cuda.get_device_properties(index)
    return GpuInfo(props.name, f"{props.major}.{props.minor}", driver_version(), props.total_memory // 2**20)


@functools.cache
def driver_version() -> str:
    """The NVIDIA driver's version: from NVML, else `nvidia-smi`, else 'unknown'."""
    nvml = _nvml()
    if nvml is not None:
        version = nvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    lines = done.stdout.split()
    return lines[0] if done.returncode == 0 and lines else UNKNOWN


def process_memory_mb(index: int = 0) -> tuple[float, str] | None:
    """GPU memory this process holds on GPU `index` as the driver counts it (every runtime's allocations: ONNX
    Runtime's arena, TensorRT's engines and workspace, PyTorch's cache), and what was counted: the process, or,
    where NVML cannot see this process (a container's own process ids), everything in use on that GPU. None
    without NVML."""
    nvml = _nvml()
    if nvml is None:
        return None
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    for process in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
        if process.pid == os.getpid() and process.usedGpuMemory is not None:
            return process.usedGpuMemory / 2**20, "NVML: this process"
    return nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20, "NVML: all in use on the GPU"


@functools.cache
def _nvml():
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.info("NVML unavailable (%s): GPU memory outside PyTorch is not measured", exc)
        return None
    return pynvml
