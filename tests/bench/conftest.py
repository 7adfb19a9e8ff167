"""Benchmark tests share the runtime tests' fixtures."""

from tests.runtime.conftest import isolated_cache, tiny_onnx  # noqa: F401
