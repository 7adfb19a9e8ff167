"""The OpenVINO runtime (CPU): the fp32 ONNX towers of an export compiled in fp32 or, where the CPU has bf16
instructions, with a bf16 inference hint; and int8 towers by NNCF (the image tower statically quantized on
decoded images, the text tower's weights compressed; converted from the checkpoint's network where there is
one, see `_tower_model`), built once per weights and cached.

openvino and nncf are imported only when a runtime is opened, so `auto` can skip them when not installed."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import math
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UnsupportedError
from ..models.config import ClipConfig
from ..models.tokenizer import Tokenizer
from . import cache
from .base import runtime_name
from .onnx import INPUT_NAMES, TOWERS, ArrayEncoder, read_manifest, session_for

if TYPE_CHECKING:
    from ..models.network import ClipNetwork

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 64
COMPILED_CACHE = "openvino-compiled-v2"  # v1 was keyed as OpenVINO keys it, by path (see `compiled_cache_dir`)
# v2: text weights only (see `_quantize`); v3: last layers on [CLS]; v4: text from the network; v5: image too
INT8_CACHE = "openvino-int8-v5"
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
# The int8 image tower's other layers (attention, norms, activations) run in bf16 where the CPU has it: ViT-B-16
# at batch 32 47.4 -> 58.7 img/s, mean cosine to fp32 0.99974 -> 0.99970. Not the text tower: a bf16 hint turns
# off its activations' int8 quantisation (a short query 6.1 -> 11.1 ms; 2-core AMX Xeon).
INT8_IMAGE_HINT = "bf16"
# OpenVINO runs int8-compressed weights with the activations quantised to int8 on the fly, one scale per group of
# this many inputs (its default is 32). Larger groups: ViT-B-16's text tower 15 % faster at 8 tokens and 18 % at
# 16, mean cosine to fp32 0.99972 against 0.99978 (60 short queries, 60 captions; 2-core AVX-512 VNNI).
ACTIVATION_GROUP = 256


@functools.cache
def shared_core():
    """The process's one `openvino.Core`, kept until exit. Each Core's CPU plugin gives the thread that made it
    an alternate signal stack and unmaps it when the Core goes; two Cores released in the order they were made,
    or one released on another thread, leave a thread on an unmapped stack, and the next handled signal (Ctrl-C,
    a child's exit) kills the process with SIGSEGV (benchmarks/segfault_repro.py)."""
    import openvino as ov

    return ov.Core()


def cpu_precisions() -> list[str]:
    """What OpenVINO runs on this CPU: fp32; bf16 where the CPU has bf16 instructions; int8 with nncf."""
    capabilities = shared_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return ["fp32", *(["bf16"] if "BF16" in capabilities else []), *(["int8"] if _has_nncf() else [])]


def available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoEncoder(ArrayEncoder):
    """The `Encoder` of a ClipModel whose towers are compiled OpenVINO models."""

    def __init__(self, config: ClipConfig, files: dict[str, Path], hints: dict[str, str], logit_scale: float):
        """`hints`: per tower, OpenVINO's inference precision hint."""
        super().__init__(config, logit_scale)
        core = shared_core()
        self.files = files
        group = activation_group(config)
        shared = {"PERFORMANCE_HINT": "LATENCY", **({"DYNAMIC_QUANTIZATION_GROUP_SIZE": group} if group else {})}
        self.compiled = {}
        for tower, path in files.items():
            properties = {"INFERENCE_PRECISION_HINT": hints[tower], **shared}
            cache_dir = compiled_cache_dir(path, properties)
            self.compiled[tower] = core.compile_model(str(path), "CPU", {**properties, "CACHE_DIR": str(cache_dir)})
        self._requests = threading.local()  # a compiled model's own request is busy while one thread runs it

    @property
    def weight_bytes(self) -> int:
        return sum(p.stat().st_size for path in self.files.values() for p in model_files(path))

    def run(self, tower: str, array: np.ndarray) -> np.ndarray:
        requests = self._requests.__dict__
        if tower not in requests:
            requests[tower] = session_for(self.compiled, tower).create_infer_request()
        return np.asarray(requests[tower].infer({INPUT_NAMES[tower]: array})[0]).copy()


def model_files(path: Path) -> list[Path]:
    """A model's files: the ONNX file, or the IR's .xml and .bin."""
    return sorted(path.parent.glob(path.stem + ".*"))


def compiled_cache_dir(path: Path, properties: dict) -> Path:
    """Where OpenVINO keeps `path` compiled with `properties`, so that a later process loads it in a fraction of
    the compile time. OpenVINO keys a compiled model by the file's path and some properties, but not by the
    file's contents nor the precision hint (2026.4: an image tower compiled for f32 and loaded again with the
    bf16 hint gave NaN embeddings), so each version of the files and each set of properties gets its own folder."""
    stamps = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in model_files(path)]
    key = json.dumps([str(path.absolute()), stamps, sorted(properties.items())])
    conversions = cache.cache_root() / "conversions"
    shutil.rmtree(conversions / "openvino-compiled", ignore_errors=True)  # v1's path-keyed blobs can be stale
    return conversions / COMPILED_CACHE / hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def activation_group(config: ClipConfig) -> int | None:
    """The largest group up to ACTIVATION_GROUP that divides the input width of every text-tower layer (a
    pruned tower's widths vary); None leaves OpenVINO's default."""
    text = config.text
    widths = [text.hidden_size]
    for layer in range(text.layers):
        widths += [text.heads_at(layer) * text.head_dim, text.mlp_dim(layer)]
    group = math.gcd(ACTIVATION_GROUP, *widths)
    return group if group > 32 else None


class OpenVinoRuntime:
    """fp32 / bf16 / int8 over the fp32 ONNX files of a zhclip export directory."""

    kind = "openvino"

    def __init__(self, directory: Path, weights_key: str | None = None, network: ClipNetwork | None = None):
        """`network`: the fp32 network the export was made from, when there is one (see `_tower_model`)."""
        self.directory = directory
        self.network = network
        self.manifest = read_manifest(directory)
        if "fp32" not in self.manifest["files"]:
            raise UnsupportedError(f"OpenVINO compiles the fp32 ONNX files; {directory} has none")
        self.config = ClipConfig.from_dict(self.manifest["config"])
        self.tokenizer = Tokenizer(directory / self.manifest.get("vocab", "vocab.txt"), self.config.context_length)
        self.device = "cpu"
        self.source = str(directory)
        self.name = runtime_name("openvino")
        self.where = "by OpenVINO on this CPU"
        self.fingerprint = tuple(self.manifest.get("fingerprint", ()))
        self.weights_key = weights_key or cache.files_digest(self._fp32_files().values())
        self._precisions = cpu_precisions()

    def precisions(self) -> list[str]:
        return self._precisions

    def encoder(self, precision: str, towers: tuple[str, ...] = TOWERS) -> OpenVinoEncoder:
        files = self._int8_files() if precision == "int8" else self._fp32_files()
        files = {tower: files[tower] for tower in towers}
        hints = {tower: self._hint(precision, tower) for tower in towers}
        return OpenVinoEncoder(self.config, files, hints, self.manifest["logit_scale"])

    def _hint(self, precision: str, tower: str) -> str:
        if precision == "int8" and tower == "image" and "bf16" in self._precisions:
            return INT8_IMAGE_HINT
        return HINTS[precision]

    trial_encoder = encoder

    def _fp32_files(self) -> dict[str, Path]:
        return {tower: self.directory / self.manifest["files"]["fp32"][tower] for tower in TOWERS}

    def _int8_files(self) -> dict[str, Path]:
        folder = cache.entry(INT8_CACHE, self.weights_key, self._quantize, "OpenVINO int8 towers (NNCF)")
        return {tower: folder / f"{tower}.xml" for tower in TOWERS}

    def _quantize(self, out: Path) -> None:
        """The image tower statically (int8 weights and activations, calibrated on decoded images: batches are
        bound by their arithmetic); the text tower's weights only (one short query is bound by reading the
        weights, and activation scales calibrated on captions cost short queries fidelity: mean cosine to fp32
        0.983 against 0.9998 on 60 queries of the random ViT-B-16, at the same 8.5 ms)."""
        import nncf
        import openvino as ov

        from .calibration import synthetic_batch

        probe = synthetic_batch(CALIBRATION_IMAGES, self.config.vision.image_size, self.tokenizer)
        log.warning("  quantizing the image tower on %d calibration images", len(probe))
        quantized = nncf.quantize(
            self._tower_model("image"),
            nncf.Dataset([p[None].numpy() for p in probe.pixels], lambda x: {INPUT_NAMES["image"]: x}),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(probe),
        )
        ov.save_model(quantized, str(out / "image.xml"))
        log.warning("  compressing the text tower's weights to int8")
        compressed = nncf.compress_weights(self._tower_model("text"), mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(compressed, str(out / "text.xml"))

    def _tower_model(self, tower: str):
        """A fp32 tower as an OpenVINO model: converted from the network where there is one, else read from the
        export's ONNX file. OpenVINO's PyTorch frontend keeps each attention one op: the text tower compiles to
        233 nodes where the ONNX graph gives 382, and with dynamic shapes every node costs time on every call (a
        short query 11.9 -> 10.1 ms, queries of varying length 18.3 -> 13.1 ms). The image tower is traced with
        q, k and v as three products (`separate_projections`): int8 at batch 32, 39.0 img/s from the ONNX file,
        40.6 converted, 48.9 with the three products, mean cosine to fp32 0.99974 in each (2-core AMX Xeon)."""
        import openvino as ov

        if self.network is None:
            return shared_core().read_model(str(self._fp32_files()[tower]))
        import torch

        from ..models.network import separate_projections
        from .onnx_export import EXAMPLE_IDS, Tower

        if tower == "image":
            size = self.config.vision.image_size
            example, shape = torch.zeros(1, 3, size, size), [-1, 3, size, size]
        else:
            example, shape = torch.tensor(EXAMPLE_IDS), [-1, -1]
        with torch.no_grad(), separate_projections(self.network):
            model = ov.convert_model(
                Tower(self.network, tower).eval(), example_input=example, input=[ov.PartialShape(shape)]
            )
        model.inputs[0].get_tensor().set_names({INPUT_NAMES[tower]})  # the ONNX file's names
        model.outputs[0].get_tensor().set_names({"features"})
        return model


def _has_nncf() -> bool:
    """Whether nncf is installed, without importing it (its import takes ~1 s; only quantizing needs it)."""
    return importlib.util.find_spec("nncf") is not None
