"""Benchmarks in the package: `zhclip bench encode` (`encode`) and the GEMM-bound limit it compares to (`roofline`)."""
