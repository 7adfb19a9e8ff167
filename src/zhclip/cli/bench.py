"""`zhclip bench encode`: encoding speed, memory, size and fidelity of every precision/runtime path."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..io import write_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="benchmarks")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    b = kinds.add_parser("encode", help="encoding speed, memory, size and fidelity of every precision/runtime")
    b.add_argument("--model", help="the model to measure (PyTorch source: HF dir, .pt, hub id)")
    b.add_argument("--random-arch", help="measure random weights of this architecture instead (e.g. ViT-B-16)")
    b.add_argument(
        "--precision",
        help="comma-separated paths, e.g. transformers-fp32,fp32,bf16,int8,onnx-fp32,onnx-int8,openvino-bf16,"
        "openvino-int8,auto (default: all this machine runs; onnx-* need zhclip[onnx], openvino-* zhclip[openvino] "
        "too); the torch fp32 baseline always runs",
    )
    b.add_argument("--baseline", help="another model whose torch fp32 run is the baseline (e.g. the unpruned one)")
    b.add_argument("--onnx", help="an existing `zhclip export onnx` directory of --model (skips the export)")
    b.add_argument("--rounds", type=int, help="rounds over all paths; medians are reported (default 2, quick 1)")
    b.add_argument("--quick", action="store_true", help="few repetitions: a smoke test, not a measurement")
    b.add_argument("--json", type=Path, help="also write the results here")
    b.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from ..bench.encode import (
        BenchSettings,
        available_paths,
        bench_encode,
        format_roofline,
        format_table,
        path_names,
        results_file,
    )
    from ..bench.results import command_line
    from ..extras import installed_extras

    extras = installed_extras()
    if args.precision:
        names = args.precision.split(",")
    else:
        names = available_paths(onnx=extras["onnx"], openvino=extras["onnx"] and extras["openvino"])
    paths = path_names([p for p in map(str.strip, names) if p])
    if args.baseline is None:
        paths = [p for p in paths if p != "torch-fp32"]  # the baseline is this path
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 2)
    if rounds < 1:
        raise InputError(None, f"must be at least 1, got {rounds}", field="--rounds")
    result = bench_encode(
        args.model,
        paths,
        BenchSettings(quick=args.quick, rounds=rounds),
        random_arch=args.random_arch,
        baseline=args.baseline,
        onnx_dir=args.onnx,
    )
    print(result["machine"])
    print(f"weights: {result['weights']}; {rounds} round(s), medians; (Nx) = ratio to the baseline of the same round")
    print(format_table(result))
    print(format_roofline(result))
    if args.json:
        write_json(args.json, results_file(result, command_line("zhclip")))
    return 0
