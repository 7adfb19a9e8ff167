"""Encode images and texts with a `zhclip export executorch` directory, using only the `executorch` package.

python examples/executorch_encode.py EXPORT_DIR --image photo.jpg --text 一只猫
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from executorch.runtime import Runtime
from mobile_inputs import ManifestError, Runner, main


def load_tower(path: Path, entry: dict) -> Runner:
    try:
        method = Runtime.get().load_program(str(path)).load_method("forward")
    except (RuntimeError, ValueError) as exc:
        raise ManifestError(f"{path}: ExecuTorch cannot load it ({exc})") from None

    def run(inputs: np.ndarray) -> np.ndarray:
        return method.execute([torch.from_numpy(inputs)])[0].float().numpy()

    return run


if __name__ == "__main__":
    sys.exit(main("executorch", load_tower))
