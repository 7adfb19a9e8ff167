"""Flags that several commands share."""

from __future__ import annotations

import argparse

from ..models.precision import PRECISION_CHOICES


def add_precision_argument(parser: argparse.ArgumentParser, default: str = "fp32") -> None:
    """`--precision` for a command that encodes (validated against the device when the model loads)."""
    parser.add_argument(
        "--precision",
        default=default,
        metavar="{" + ",".join(PRECISION_CHOICES) + "}",
        help=f"numeric precision (default {default}): fp32; bf16; fp16 (GPU); int8 (CPU, dynamic quantization); "
        "auto = the fastest that keeps embeddings within cosine 0.99 of fp32, measured once per machine "
        "and architecture. An ONNX export directory offers the precisions it was exported in.",
    )


def add_context_length_argument(parser: argparse.ArgumentParser) -> None:
    """`--context-length` for a command that encodes texts (checked against the model when it loads)."""
    parser.add_argument(
        "--context-length",
        type=int,
        help="tokens per text, up to the text tower's position table (default: the model's, 52 unless it was "
        "trained longer)",
    )
