"""Core ML: `torch.export` -> coremltools -> an ML program (`.mlpackage`, iOS 16 / macOS 13 and later) with a
dynamic batch (1..MAX_BATCH): fp32, fp16 (fp16 compute), int8 (8-bit symmetric weights, fp16 compute).

coremltools converts on Linux but predicts only on macOS, so an export here is checked, not run: the saved
package is read back and its input and output names, shapes and types compared with the manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import NumericsError
from ...models.network import ClipNetwork
from ..onnx_export import Tower
from .base import MAX_BATCH, OUTPUT_NAME, Target, TowerSpec

NOT_RUN = "Core ML prediction needs macOS: converted and its spec checked here, never run"


def convert(network: ClipNetwork, spec: TowerSpec, precision: str, out: Path) -> None:
    import coremltools as ct

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.no_grad():
        program = torch.export.export(
            Tower(network, spec.tower).eval(), (spec.example(),), dynamic_shapes={"x": {0: batch}}
        )
    program = _without_aliases(program.run_decompositions())
    shape = (ct.RangeDim(1, MAX_BATCH, default=1), *spec.shape[1:])
    dtype = np.float32 if spec.tower == "image" else np.int32
    model = ct.convert(
        program,
        inputs=[ct.TensorType(name=spec.input_name, shape=shape, dtype=dtype)],
        outputs=[ct.TensorType(name=OUTPUT_NAME)],
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
        minimum_deployment_target=ct.target.iOS16,
    )
    if precision == "int8":
        import coremltools.optimize.coreml as cto

        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
        model = cto.linear_quantize_weights(model, config)
    model.save(str(out))
    check(out, spec)


def _without_aliases(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Drop `aten.alias` nodes (no-op dtype casts leave them), which coremltools 9.0 cannot convert."""
    graph = program.graph_module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch.ops.aten.alias.default:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    program.graph_module.recompile()
    return program


def check(path: Path, spec: TowerSpec) -> None:
    """Read the saved package back (without loading it for prediction) and compare its interface with `spec`."""
    import coremltools as ct

    described = ct.models.MLModel(str(path), skip_model_load=True).get_spec().description
    inputs = {i.name: i.type.multiArrayType for i in described.input}
    outputs = [o.name for o in described.output]
    problems = []
    if list(inputs) != [spec.input_name]:
        problems.append(f"inputs {list(inputs)} (manifest: [{spec.input_name!r}])")
    elif [(r.lowerBound, r.upperBound) for r in inputs[spec.input_name].shapeRange.sizeRanges] != [
        (1, MAX_BATCH),
        *((n, n) for n in spec.shape[1:]),
    ]:
        problems.append(f"input shape ranges {inputs[spec.input_name].shapeRange} (manifest: {spec.shape})")
    if outputs != [OUTPUT_NAME]:
        problems.append(f"outputs {outputs} (manifest: [{OUTPUT_NAME!r}])")
    if problems:
        raise NumericsError(
            f"Core ML {spec.tower} tower {path.name} does not match its manifest: {'; '.join(problems)}"
        )


TARGET = Target(
    name="coreml",
    package="coremltools",
    extra="coreml",
    suffix=".mlpackage",
    convert=convert,
    run=None,
    ids_dtype="int32",
    not_run=NOT_RUN,
)
