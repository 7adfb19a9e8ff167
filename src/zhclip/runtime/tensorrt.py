"""TensorRT on an NVIDIA GPU, two ways: engines built by TensorRT's ONNX parser from the fp16 ONNX towers
(`TensorRtRuntime`), and torch-tensorrt compiling the PyTorch network (`TorchTensorRtRuntime`). Both are built once
per weights, GPU model, driver and TensorRT version (`engines.engine_key`) into the conversion cache, and run on
PyTorch's CUDA tensors and stream.

Engines are built from strongly typed networks: each layer runs in the precision of the ONNX graph's tensors (the
fp16 towers keep fp32 inputs, outputs and the casts the fp16 converter left), which TensorRT 10 and 11 both take,
where the older per-builder precision flags are gone from TensorRT 11."""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import UnsupportedError
from ..models.config import ClipConfig
from . import cache
from .engines import ENGINE_PRECISIONS, distribution_version, engine_key, tensorrt_version, tower_shapes
from .gpu import gpu_info
from .onnx import read_manifest
from .plans import TOWERS

if TYPE_CHECKING:
    from .torch import TorchRuntime

log = logging.getLogger(__name__)

ENGINE_CACHE = "tensorrt-v1"
TORCH_TENSORRT_CACHE = "torch-tensorrt-v1"
WORKSPACE_BYTES = 4 << 30


class TensorRtRuntime:
    """TensorRT engines of an export's fp16 towers."""

    kind = "tensorrt"

    def __init__(self, directory: Path, device: torch.device, weights_key: str):
        from ..models.tokenizer import Tokenizer

        self.directory = directory
        self.manifest = read_manifest(directory)
        self.config = ClipConfig.from_dict(self.manifest["config"])
        self.tokenizer = Tokenizer(directory / self.manifest.get("vocab", "vocab.txt"), self.config.context_length)
        self.device = device
        self.weights_key = weights_key
        self.gpu = gpu_info(device)
        self.name = f"{self.kind}={tensorrt_version()}"
        self.source = str(directory)
        self.where = f"by TensorRT on {self.gpu.name}"
        self.fingerprint = tuple(self.manifest.get("fingerprint", ()))

    def precisions(self) -> list[str]:
        return [p for p in ENGINE_PRECISIONS if p in self.manifest["files"]]

    def encoder(self, precision: str, towers: tuple[str, ...] = TOWERS) -> TensorRtEncoder:
        key = engine_key(self.weights_key, self.gpu, tensorrt_version(), precision)
        what = f"TensorRT {precision} engines"
        folder = cache.entry(ENGINE_CACHE, key, lambda out: self._build(precision, out), what)
        engines = {tower: folder / f"{tower}.engine" for tower in towers}
        return TensorRtEncoder(self.config, engines, self.device, self.manifest["logit_scale"])

    trial_encoder = encoder

    def _build(self, precision: str, out: Path) -> None:
        for tower in TOWERS:
            onnx_file = self.directory / self.manifest["files"][precision][tower]
            log.warning("  building the %s tower's engine from %s", tower, onnx_file.name)
            build_engine(onnx_file, tower_shapes(tower, self.config), out / f"{tower}.engine")


def build_engine(onnx_file: Path, shapes: tuple, out: Path) -> None:
    """A serialized TensorRT engine of `onnx_file` for its one input's (min, opt, max) `shapes`."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UnsupportedError(f"TensorRT cannot parse {onnx_file}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, *shapes)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UnsupportedError(f"TensorRT could not build an engine of {onnx_file} (see its log above)")
    out.write_bytes(bytes(serialized))


class TensorRtEncoder:
    """The towers as TensorRT execution contexts, run on PyTorch's current CUDA stream. A batch larger than an
    engine's profile is run in pieces; one lock per encoder, as a context runs one call at a time."""

    def __init__(self, config: ClipConfig, engines: dict[str, Path], device: torch.device, logit_scale: float):
        import tensorrt as trt

        self.config = config
        self.device = device
        self.files = engines
        self.logit_scale = torch.tensor(float(logit_scale))
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engines = {tower: runtime.deserialize_cuda_engine(path.read_bytes()) for tower, path in engines.items()}
        self.contexts = {tower: engine.create_execution_context() for tower, engine in self.engines.items()}
        self.max_batch = {tower: tower_shapes(tower, config)[2][0] for tower in engines}
        self._lock = threading.Lock()

    @property
    def weight_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files.values())

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._run("image", pixels)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self._run("text", ids)

    def _run(self, tower: str, inputs: torch.Tensor) -> torch.Tensor:
        if tower not in self.contexts:
            raise UnsupportedError(f"this model was loaded for {', '.join(self.contexts)} only; load it again")
        with self._lock:
            return torch.cat([self._run_piece(tower, piece) for piece in inputs.split(self.max_batch[tower])])

    def _run_piece(self, tower: str, inputs: torch.Tensor) -> torch.Tensor:
        import tensorrt as trt

        engine, context = self.engines[tower], self.contexts[tower]
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        (name_in,) = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        (name_out,) = [n for n in names if n != name_in]
        inputs = inputs.to(self.device, _torch_dtype(engine.get_tensor_dtype(name_in))).contiguous()
        context.set_input_shape(name_in, tuple(inputs.shape))
        shape = tuple(context.get_tensor_shape(name_out))
        out = torch.empty(shape, dtype=_torch_dtype(engine.get_tensor_dtype(name_out)), device=self.device)
        context.set_tensor_address(name_in, inputs.data_ptr())
        context.set_tensor_address(name_out, out.data_ptr())
        if not context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise UnsupportedError(f"TensorRT failed to run the {tower} tower on a batch of shape {shape}")
        return out


def _torch_dtype(trt_dtype) -> torch.dtype:
    import tensorrt as trt

    return {
        trt.float32: torch.float32,
        trt.float16: torch.float16,
        trt.bfloat16: torch.bfloat16,
        trt.int32: torch.int32,
        trt.int64: torch.int64,
    }[trt_dtype]


class TorchTensorRtRuntime:
    """torch-tensorrt's compilation of the PyTorch network's towers (fp16), saved as exported programs."""

    kind = "torch_tensorrt"

    def __init__(self, base: TorchRuntime):
        self.base = base
        self.config = base.config
        self.tokenizer = base.tokenizer
        self.device = base.device
        self.source = base.source
        self.fingerprint = base.fingerprint
        self.gpu = gpu_info(base.device)
        self.name = f"{self.kind}={distribution_version('torch-tensorrt')}/tensorrt={tensorrt_version()}"
        self.where = f"by torch-tensorrt on {self.gpu.name}"

    def precisions(self) -> list[str]:
        return list(ENGINE_PRECISIONS)

    def encoder(self, precision: str, towers: tuple[str, ...] = TOWERS) -> CompiledTowers:
        key = engine_key(self.base.weights_key, self.gpu, tensorrt_version(), precision)
        what = f"torch-tensorrt {precision} towers"
        folder = cache.entry(TORCH_TENSORRT_CACHE, key, lambda out: self._compile(precision, out), what)
        import torch_tensorrt  # noqa: F401  (registers the TensorRT engine op the saved programs call)

        modules = {tower: torch.export.load(str(folder / f"{tower}.ep")).module() for tower in towers}
        return CompiledTowers(self.config, modules, self.device, self.base.network.logit_scale.detach().cpu())

    trial_encoder = encoder

    def _compile(self, precision: str, out: Path) -> None:
        import torch_tensorrt

        from .onnx_export import Tower
        from .torch import apply_precision

        network = apply_precision(copy.deepcopy(self.base.network).eval(), precision, self.device)
        for tower in TOWERS:
            log.warning("  compiling the %s tower with torch-tensorrt", tower)
            low, opt, high = tower_shapes(tower, self.config)
            dtype = torch.float32 if tower == "image" else torch.int64
            inputs = [torch_tensorrt.Input(min_shape=low, opt_shape=opt, max_shape=high, dtype=dtype)]
            example = torch.zeros(opt, dtype=dtype, device=self.device)
            compiled = torch_tensorrt.compile(
                Tower(network, tower).eval(), ir="dynamo", inputs=inputs, use_explicit_typing=True
            )
            torch_tensorrt.save(compiled, str(out / f"{tower}.ep"), arg_inputs=[example])
        del network


class CompiledTowers:
    """Compiled tower modules behind the `Encoder` methods."""

    def __init__(self, config: ClipConfig, modules: dict, device: torch.device, logit_scale: torch.Tensor):
        self.config = config
        self.modules = modules
        self.device = device
        self.logit_scale = logit_scale
        self.max_batch = {tower: tower_shapes(tower, config)[2][0] for tower in modules}

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._run("image", pixels.to(self.device, torch.float32))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self._run("text", ids.to(self.device, torch.int64))

    def _run(self, tower: str, inputs: torch.Tensor) -> torch.Tensor:
        if tower not in self.modules:
            raise UnsupportedError(f"this model was loaded for {', '.join(self.modules)} only; load it again")
        return torch.cat([self.modules[tower](piece) for piece in inputs.split(self.max_batch[tower])])
