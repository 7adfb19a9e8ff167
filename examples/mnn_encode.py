"""Encode images and texts with a `zhclip export mnn` directory, using only the `MNN` package.

python examples/mnn_encode.py EXPORT_DIR --image photo.jpg --text 一只猫
"""

from __future__ import annotations

import sys
from pathlib import Path

import MNN
import numpy as np
from mobile_inputs import ManifestError, Runner, main


def load_tower(path: Path, entry: dict) -> Runner:
    (source,), (output,) = entry["inputs"], entry["outputs"]
    module = MNN.nn.load_module_from_file(str(path), [source["name"]], [output["name"]])
    if module is None:
        raise ManifestError(f"{path}: MNN cannot load it with input {source['name']!r}, output {output['name']!r}")
    dtype = MNN.expr.float if source["dtype"] == "float32" else MNN.expr.int

    def run(inputs: np.ndarray) -> np.ndarray:
        value = MNN.expr.const(inputs, list(inputs.shape), MNN.expr.NCHW, dtype)
        return np.array(module.forward([value])[0].read(), dtype=np.float32).reshape(len(inputs), -1)

    return run


if __name__ == "__main__":
    sys.exit(main("mnn", load_tower))
