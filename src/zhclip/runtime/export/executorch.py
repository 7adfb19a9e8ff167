"""ExecuTorch: `torch.export` -> XNNPACK-lowered `.pte` (fp32; fp16 weights and compute with fp32 inputs and
outputs; int8 as XNNPACK's dynamic per-channel quantization of the linear layers). The same `executorch` package
runs `.pte` files on x86 and ARM Linux.

The image tower's batch is fixed in the file: XNNPACK's patch-embedding convolution keeps the traced batch
(ExecuTorch 1.5.1 refuses any other at run time), so `--batch` chooses it. The text tower's batch is dynamic."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...models.network import ClipNetwork
from ..onnx_export import Tower
from .base import MAX_BATCH, Target, TowerSpec


class Fp32Output(nn.Module):
    """A half-precision tower that returns fp32, as the manifest promises for every precision (its inputs are
    fp32 pixels or integer ids already: the network casts pixels to its own dtype)."""

    def __init__(self, tower: nn.Module):
        super().__init__()
        self.tower = tower

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tower(x).float()


def convert(network: ClipNetwork, spec: TowerSpec, precision: str, out: Path) -> None:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    example = spec.example()
    module: nn.Module = Tower(network, spec.tower).eval()
    if precision == "fp16":
        module = Fp32Output(Tower(copy.deepcopy(network).half(), spec.tower).eval())
    shapes = None if spec.batch else {"x": {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)}}
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=shapes)
        if precision == "int8":
            program = torch.export.export(_quantized(program, example), (example,), dynamic_shapes=shapes)
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    out.write_bytes(lowered.buffer)


def _quantized(program: torch.export.ExportedProgram, example: torch.Tensor) -> nn.Module:
    """XNNPACK's dynamic int8: weights per output channel, activations quantized per call."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    prepared = prepare_pt2e(program.module(), quantizer)
    prepared(example)
    return convert_pt2e(prepared)


def run(path: Path, spec: TowerSpec, inputs: np.ndarray) -> np.ndarray:
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")
    return method.execute([torch.from_numpy(inputs)])[0].numpy()


TARGET = Target(
    name="executorch",
    package="executorch",
    extra="executorch",
    suffix=".pte",
    convert=convert,
    run=run,
    fixed_batch_towers=("image",),
)
