"""Flags that several commands share."""

from __future__ import annotations

import argparse

from ..choices import PRECISION_CHOICES, RUNTIME_CHOICES

DB_HELP = "the library: a file, or postgresql://USER@HOST[:PORT]/DB (postgresql://USER@/DB?host=/socket/dir)"


def add_precision_argument(parser: argparse.ArgumentParser, default: str = "fp32") -> None:
    """`--precision` and `--runtime` for a command that encodes (validated when the model loads)."""
    parser.add_argument(
        "--precision",
        default=default,
        metavar="{" + ",".join(PRECISION_CHOICES) + "}",
        help=f"numeric precision (default {default}): fp32; bf16; fp16 (GPU); int8 (CPU); auto = per tower, the "
        "fastest path of every installed runtime that keeps embeddings within cosine 0.99 of fp32, measured "
        "once per machine and architecture. An ONNX export directory offers the precisions it was exported in.",
    )
    parser.add_argument(
        "--runtime",
        default="auto",
        choices=RUNTIME_CHOICES,
        help="what runs the model (default auto: PyTorch for a checkpoint, ONNX Runtime for an export, and with "
        "--precision auto every installed runtime). A conversion is built once per weights and cached.",
    )


def add_context_length_argument(parser: argparse.ArgumentParser) -> None:
    """`--context-length` for a command that encodes texts (checked against the model when it loads)."""
    parser.add_argument(
        "--context-length",
        type=int,
        help="tokens per text, up to the text tower's position table (default: the model's, 52 unless it was "
        "trained longer)",
    )
