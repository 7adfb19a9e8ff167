"""The machine line every benchmark prints: CPU model, and which GEMM-relevant flags it has and lacks."""

from zhclip.runtime.machine import cpu_model_and_flags, describe_machine

AMX_XEON = (
    "model name\t: Intel(R) Xeon(R) Platinum 8481C\n"
    "flags\t\t: fpu sse avx2 fma avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8 avx512_fp16 avx_vnni"
)
AVX2_ONLY = "model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse avx avx2 fma"


def test_model_and_flags_are_parsed():
    model, flags = cpu_model_and_flags(AVX2_ONLY)
    assert model == "AMD EPYC 7B12" and {"avx2", "fma"} <= flags and "avx512f" not in flags


def test_machine_line_names_present_and_missing_kernel_flags():
    line = describe_machine(AVX2_ONLY)
    assert line.startswith("machine: AMD EPYC 7B12, ") and "flags: avx2 fma (not: avx512f avx512_vnni" in line
    assert "amx_int8" in line.split("(not:")[1]
    full = describe_machine(AMX_XEON)
    assert "flags: avx2 fma avx512f avx512_vnni avx_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8" in full
    assert "(not:" not in full


def test_this_machine_is_described():
    assert describe_machine().startswith("machine: ")
