"""MNN: zhclip's ONNX export of a tower -> `mnnconvert` -> `.mnn` (fp32; fp16 stores weights in half precision;
int8 stores linear and convolution weights in 8 bits). The `MNN` package runs `.mnn` files on x86 and ARM, with a
dynamic batch.

MNN's converter has no ONNX `IsNaN`, which the exporter writes for attention masks; `IsNaN(x)` is rewritten as
`Not(Equal(x, x))`, the same function. The converter runs in a child process: it prints its progress to the
terminal from C++, and a crash there stops only the child."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ...errors import UnsupportedError
from ...extras import require
from ...models.network import ClipNetwork
from ..onnx_export import export_tower
from .base import OUTPUT_NAME, Target, TowerSpec

PRECISION_FLAGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--weightQuantBits", "8"]}
CONVERTER = "import sys, _tools; _tools.mnnconvert(sys.argv[1:])"  # MNN's converter without its logging wrapper


def convert(network: ClipNetwork, spec: TowerSpec, precision: str, out: Path) -> None:
    require("onnx")
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        onnx_file = Path(scratch) / f"{spec.tower}.onnx"
        export_tower(network, spec.tower, onnx_file)
        _replace_isnan(onnx_file)
        args = [
            "mnnconvert",
            "-f",
            "ONNX",
            "--modelFile",
            str(onnx_file),
            "--MNNModel",
            str(out),
            "--bizCode",
            "zhclip",
        ]
        done = subprocess.run(
            [sys.executable, "-c", CONVERTER, *args, *PRECISION_FLAGS[precision]], capture_output=True, text=True
        )
    if done.returncode != 0 or not out.is_file():
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise UnsupportedError(f"MNN's converter failed on the {spec.tower} tower: {' / '.join(tail)}")


def _replace_isnan(path: Path) -> None:
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    nodes = []
    for node in model.graph.node:
        if node.op_type != "IsNaN":
            nodes.append(node)
            continue
        same = f"{node.output[0]}_equals_itself"
        nodes.append(helper.make_node("Equal", [node.input[0], node.input[0]], [same]))
        nodes.append(helper.make_node("Not", [same], list(node.output)))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(path))


def run(path: Path, spec: TowerSpec, inputs: np.ndarray) -> np.ndarray:
    import MNN

    expr = MNN.expr
    module = MNN.nn.load_module_from_file(str(path), [spec.input_name], [OUTPUT_NAME])
    dtype = expr.float if spec.tower == "image" else expr.int
    value = expr.const(inputs, list(inputs.shape), expr.NCHW, dtype)
    return np.array(module.forward([value])[0].read(), dtype=np.float32).reshape(len(inputs), -1)


TARGET = Target(
    name="mnn",
    package="MNN",
    extra="mnn",
    suffix=".mnn",
    convert=convert,
    run=run,
    ids_dtype="int32",
    batch_limit=None,
    max_tower_bytes=1.8e9,
    why_limit="zhclip hands MNN's converter one ONNX protobuf, which holds at most 2 GB of weights",
)
