"""`zhclip.load`: the one place that chooses the runtime for a source and opens a `ClipModel` on it.

A checkpoint runs on PyTorch, an export directory on ONNX Runtime. `runtime=` names another one (the
conversion it needs is built once and cached), and `precision="auto"` measures every path of every
available runtime and picks the fastest per tower (`ZHCLIP_RUNTIMES=torch,onnxruntime` narrows the set)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..choices import RUNTIME_CHOICES
from ..errors import UnsupportedError
from ..extras import installed_extras, require
from ..models.config import ClipConfig
from ..models.device import device_type, resolve_device
from ..models.model import ClipModel
from . import cache
from .base import TOWERS, Runtime, SplitEncoder, open_model, open_plan, runtime_name
from .onnx import OnnxRuntime, is_export_dir
from .plans import cached_plan

if TYPE_CHECKING:
    from .torch import TorchRuntime

RUNTIME_EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}  # runtime kind -> the extra that brings it
EXPORT_CACHE = "onnx-v2"  # v2: the towers' last layers compute the class token only
RUNTIMES_ENV = "ZHCLIP_RUNTIMES"


def load(
    source: str | Path,
    device: str = "auto",
    precision: str = "fp32",
    arch: str | ClipConfig | None = None,
    runtime: str = "auto",
    choose=None,
    towers: tuple[str, ...] = TOWERS,
    context_length: int | None = None,
) -> ClipModel:
    """Load a Chinese-CLIP model from any supported source. See the README for the accepted forms.

    With `precision="auto"`, a checkpoint loaded before on this machine whose towers `auto` put on converted
    paths opens from those cached conversions, and the checkpoint itself is not read; `towers=("text",)`
    (text queries) opens only the text tower; neither needs PyTorch, which is imported only to run a checkpoint.
    `choose` picks the plan among runtimes (default: `auto.choose_plan`, which measures them once).
    `context_length` overrides the stored one (52 unless the model was trained longer)."""
    if runtime not in RUNTIME_CHOICES:
        raise UnsupportedError(f"unknown runtime {runtime!r}; use {', '.join(RUNTIME_CHOICES)}")
    if precision == runtime == "auto" and context_length is None:
        model = _cached_model(source, device, tuple(towers))
        if model is not None:
            return model
    base = open_runtime(source, device, arch, context_length)
    if runtime == "auto" and precision != "auto":
        return open_model(base, precision)
    runtimes = [r for r in [base, *_conversions(base, runtime)] if runtime in ("auto", r.kind)]
    if not runtimes:
        raise UnsupportedError(f"runtime {runtime!r} cannot run {base.source} ({_why_not(base, runtime)})")
    if precision != "auto":
        return open_model(runtimes[0], precision)
    if choose is None:
        from .auto import choose_plan as choose
    return open_plan(runtimes, choose(runtimes))


def open_runtime(
    source: str | Path, device: str = "auto", arch: str | ClipConfig | None = None, context_length: int | None = None
) -> Runtime:
    """ONNX Runtime for a `zhclip export onnx` directory; PyTorch for every checkpoint form."""
    if is_export_dir(source):
        if context_length is not None:
            raise UnsupportedError("an ONNX export keeps the context length it was exported with")
        return OnnxRuntime(Path(source).expanduser(), device)
    from ..models.factory import read_weights
    from .torch import TorchRuntime

    dev = resolve_device(device)
    weights = read_weights(source, arch)
    weights.config = weights.config.with_context_length(context_length)
    return TorchRuntime.from_weights(weights, dev)


def installed(kind: str) -> bool:
    return kind == "torch" or installed_extras()[RUNTIME_EXTRAS[kind]]


def enabled(kind: str) -> bool:
    """Installed, and among `ZHCLIP_RUNTIMES` where that is set."""
    allowed = os.environ.get(RUNTIMES_ENV)
    return installed(kind) and (not allowed or kind in allowed.split(","))


def _conversions(base: Runtime, requested: str) -> list[Runtime]:
    """The other runtimes that can run `base`'s weights on its device (CPU only), converting them once."""
    if device_type(base.device) != "cpu":
        return []
    wanted = [k for k in ("onnxruntime", "openvino") if k == requested or (requested == "auto" and enabled(k))]
    for kind in wanted:
        if not installed(kind):
            require(RUNTIME_EXTRAS[kind])
    if not wanted:
        return []
    found: list[Runtime] = []
    if base.kind == "torch":
        if not installed("onnxruntime"):
            require("onnx")  # OpenVINO reads the ONNX export of a checkpoint
        directory = cache.entry(EXPORT_CACHE, base.weights_key, lambda out: _export(base, out), "an ONNX export")
        onnx = OnnxRuntime(directory, "cpu")
        found += [onnx] if "onnxruntime" in wanted else []
        key, network = base.weights_key, base.network
    else:
        directory, key, network = base.directory, None, None
    if "openvino" in wanted:
        from .openvino import OpenVinoRuntime

        found.append(OpenVinoRuntime(directory, key, network))
    for converted in found:
        converted.source = base.source  # a model is known by its checkpoint, not by the cache folder
    return found


def _cached_model(source: str | Path, device: str, towers: tuple[str, ...]) -> ClipModel | None:
    """`towers` on the paths `auto` chose for them before, from their cached conversions, without reading the
    checkpoint; None if any part is missing (or a tower's path is PyTorch's, which needs the checkpoint)."""
    seen = cache.recall_source(source)
    if seen is None or device not in ("auto", "cpu") or is_export_dir(source):
        return None
    key, config = seen
    kinds = ["torch", *(k for k in ("onnxruntime", "openvino") if enabled(k))]
    plan = cached_plan([runtime_name(k) for k in kinds], "cpu", ClipConfig.from_dict(config))
    directory = cache.cache_root() / "conversions" / EXPORT_CACHE / key
    if plan is None or not cache.is_complete(directory):
        return None
    paths = {tower: plan[tower] for tower in towers}
    if any(not path.startswith(("onnxruntime-", "openvino-")) for path in paths.values()):
        return None
    if "openvino-int8" in paths.values() and not _openvino_int8_built(key):
        return None  # built with the checkpoint's network (see `OpenVinoRuntime._tower_model`)
    runtimes: dict[str, Runtime] = {}
    for kind in {path.rpartition("-")[0] for path in paths.values()}:
        runtimes[kind] = _converted_runtime(kind, directory, key)
    encoder = _encoder_for(paths, runtimes)
    precisions = {path.rpartition("-")[2] for path in paths.values()}
    precision = precisions.pop() if len(precisions) == 1 else "mixed"
    first = next(iter(runtimes.values()))
    return ClipModel(encoder, first.tokenizer, "cpu", precision, str(source), paths, first.fingerprint)


def _openvino_int8_built(key: str) -> bool:
    from .openvino import INT8_CACHE

    return cache.is_complete(cache.cache_root() / "conversions" / INT8_CACHE / key)


def _converted_runtime(kind: str, directory: Path, key: str) -> Runtime:
    if kind == "onnxruntime":
        return OnnxRuntime(directory, "cpu")
    from .openvino import OpenVinoRuntime

    return OpenVinoRuntime(directory, key)


def _encoder_for(paths: dict[str, str], runtimes: dict[str, Runtime]):
    """One encoder when every tower runs on one path, else a SplitEncoder of the image and the text path."""

    def encoder(path: str, towers: tuple[str, ...]):
        kind, _, precision = path.rpartition("-")
        return runtimes[kind].encoder(precision, towers=towers)

    if len(set(paths.values())) == 1:
        return encoder(next(iter(paths.values())), tuple(paths))
    return SplitEncoder(encoder(paths["image"], ("image",)), encoder(paths["text"], ("text",)))


def _export(base: TorchRuntime, out: Path) -> None:
    from .onnx_export import export_network

    export_network(base.network, out, ("fp32", "int8"), base.source, base.tokenizer.vocab_path)


def _why_not(base: Runtime, runtime: str) -> str:
    if device_type(base.device) != "cpu":
        return f"it runs on the CPU only; this model is on {base.device}"
    return f"an ONNX export runs on onnxruntime or openvino, not {runtime}"
