"""`precision="auto"` on an ARM board or server, tested with a faked aarch64 machine (`platform.machine()` and
/proc/cpuinfo text): which paths it measures and which it leaves out for want of the instructions, what it keys
the plan by, and what it chooses among the rest."""

from __future__ import annotations

import platform

import pytest

import zhclip.cpu
from zhclip.cpu import cpu_info
from zhclip.runtime import auto, plans
from zhclip.runtime.machine import describe_machine, excluded_paths

from .fake_paths import FakePath, FakeRuntime, measured_paths, use_clock

# Raspberry Pi 5 (Cortex-A76) and AWS Graviton2 / Ampere Altra (Neoverse N1): NEON with int8 dot products
# (asimddp), no bf16, no i8mm. ARM's /proc/cpuinfo names no model: the CPU part (0xd0b, 0xd0c) does.
CORTEX_A76 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b

processor\t: 1
Features\t: fp asimd
"""
NEOVERSE_N1 = CORTEX_A76.replace("0xd0b", "0xd0c").replace("asimddp", "asimddp ssbs")
# AWS Graviton3 (Neoverse V1): also SVE, int8 matrix multiply (i8mm) and bf16 dot products.
NEOVERSE_V1 = CORTEX_A76.replace("0xd0b", "0xd40").replace("asimddp", "asimddp sve svei8mm svebf16 i8mm bf16")

ARM_PATHS = ["torch-fp32", "torch-bf16", "torch-int8", "onnxruntime-fp32", "onnxruntime-int8"]
ARM_PATHS += ["openvino-fp32", "openvino-int8"]


@pytest.fixture
def arm_machine(monkeypatch, tmp_path):
    """Makes this process see an aarch64 CPU whose /proc/cpuinfo is the text given."""

    def use(text: str) -> None:
        fake = tmp_path / "cpuinfo"
        fake.write_text(text)
        monkeypatch.setattr(platform, "machine", lambda: "aarch64")
        monkeypatch.setattr(zhclip.cpu.cpu_info, "__defaults__", (fake,))

    return use


@pytest.mark.parametrize("text", [CORTEX_A76, NEOVERSE_N1])
def test_without_bf16_the_bf16_and_openvino_int8_paths_are_left_out(arm_machine, text):
    arm_machine(text)
    info = cpu_info()
    assert not info.is_x86 and {"asimd", "asimddp"} <= info.flags
    left_out = excluded_paths(ARM_PATHS, info)
    assert set(left_out) == {"torch-bf16", "openvino-int8"}
    assert "bf16 dot-product" in left_out["torch-bf16"] and "x86-64 only" in left_out["openvino-int8"]


def test_with_bf16_pytorch_bf16_is_measured_and_openvino_int8_still_left_out(arm_machine):
    arm_machine(NEOVERSE_V1)
    info = cpu_info()
    assert {"bf16", "i8mm", "sve"} <= info.flags
    assert set(excluded_paths(ARM_PATHS, info)) == {"openvino-int8"}


def test_x86_cpus_and_cpus_without_flags_measure_every_path():
    """x86 keeps measuring bf16 without bf16 dot products (one round, then dropped as too slow), as before."""
    amx = zhclip.cpu.CpuInfo("Xeon", "x86_64", 2, frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}))
    avx2 = zhclip.cpu.CpuInfo("EPYC 7B12", "x86_64", 2, frozenset({"avx2", "fma"}))
    unknown = zhclip.cpu.CpuInfo("M2", "arm64", 8, frozenset())  # macOS lists no flags: nothing is left out
    assert excluded_paths(ARM_PATHS, amx) == excluded_paths(ARM_PATHS, avx2) == excluded_paths(ARM_PATHS, unknown)
    assert excluded_paths(ARM_PATHS, amx) == {}


def test_the_machine_line_names_arm_flags(arm_machine):
    arm_machine(CORTEX_A76)
    line = describe_machine()
    assert "flags: asimd asimddp (not: sve sve2 bf16 i8mm)" in line


def _cpu_runtimes(clock) -> list[FakeRuntime]:
    """The CPU paths of a Raspberry Pi 5-like machine: ONNX Runtime's int8 (sdot kernels) fastest and faithful;
    OpenVINO fp32 close behind; PyTorch int8 (QNNPACK) slower. bf16 and OpenVINO int8 would be fastest on
    images if measured (they must not be: here they would be emulated)."""
    paths = {
        "torch": {"fp32": FakePath(10, 2), "bf16": FakePath(0.5, 0.1), "int8": FakePath(6, 1.5)},
        "onnxruntime": {"fp32": FakePath(9, 1.8), "int8": FakePath(4, 0.8)},
        "openvino": {"fp32": FakePath(5, 1.0), "int8": FakePath(0.5, 0.1)},
    }
    return [FakeRuntime(kind, clock, found) for kind, found in paths.items()]


@pytest.mark.parametrize(
    ("text", "measured"),
    [
        (CORTEX_A76, ["torch-fp32", "torch-int8", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32"]),
        (
            NEOVERSE_V1,
            ["torch-fp32", "torch-bf16", "torch-int8", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32"],
        ),
    ],
)
def test_auto_on_aarch64_measures_the_rest_and_picks_the_fastest(arm_machine, monkeypatch, text, measured):
    arm_machine(text)
    clock = use_clock(monkeypatch)
    runtimes = _cpu_runtimes(clock)
    plan = auto.choose_plan(runtimes)
    (key, results), *_ = measured_paths().items()
    assert "|cpu:aarch64:" in key
    assert list(results) == measured
    assert "openvino-int8" not in results
    if "torch-bf16" in measured:
        assert plan == {"image": "torch-bf16", "text": "torch-bf16"}
    else:
        assert plan == {"image": "onnxruntime-int8", "text": "onnxruntime-int8"}
        assert runtimes[0].built == ["fp32", "int8"], "PyTorch bf16 was never built"


def test_plans_of_two_arm_cpus_are_kept_apart(arm_machine):
    arm_machine(CORTEX_A76)
    a76 = plans.cache_key("torch=2", "cpu", FakeRuntime("torch", None, {}).config)
    arm_machine(NEOVERSE_V1)
    assert plans.cache_key("torch=2", "cpu", FakeRuntime("torch", None, {}).config) != a76
