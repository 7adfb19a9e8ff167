"""Compression and fast inference: INT8, ONNX export and runtime, structured pruning, encode benchmarks."""
