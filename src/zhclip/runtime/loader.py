"""`zhclip.load`: the one place that chooses the runtime for a source and opens a `ClipModel` on it.

A checkpoint runs on PyTorch, an export directory on ONNX Runtime. `runtime=` names another one (the
conversion it needs is built once and cached), and `precision="auto"` measures every path of every
available runtime and picks the fastest per tower (`ZHCLIP_RUNTIMES=torch,onnxruntime` narrows the set)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..choices import RUNTIME_CHOICES
from ..errors import UnsupportedError
from ..extras import installed_extras, require
from ..models.config import ClipConfig
from ..models.device import device_type, resolve_device
from ..models.model import ClipModel
from . import cache, prepare
from .base import TOWERS, Runtime, SplitEncoder, open_model, open_plan, runtime_name
from .onnx import OnnxRuntime, is_export_dir
from .plans import cached_plan

if TYPE_CHECKING:
    from .prepare import Preparation
    from .torch import TorchRuntime

RUNTIME_EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}  # runtime kind -> the extra that brings it
EXPORT_CACHE = "onnx-v2"  # v2: the towers' last layers compute the class token only
RUNTIMES_ENV = "ZHCLIP_RUNTIMES"

log = logging.getLogger(__name__)


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
    Conversions, and `auto`'s timing of paths, run once in a child process (see `prepare`) that this waits for.
    `choose` picks the plan among runtimes here (default: the plan the child measured with `auto.choose_plan`).
    `context_length` overrides the stored one (52 unless the model was trained longer)."""
    options = Options(device, precision, arch, runtime, choose, tuple(towers), context_length)
    return _load(source, options, wait=True)[0]


def load_at_once(
    source: str | Path, device: str = "auto", precision: str = "auto", runtime: str = "auto", towers=TOWERS
) -> tuple[ClipModel, Preparation | None]:
    """`load`, except that a checkpoint whose `auto` paths are not converted and timed yet opens at once on
    PyTorch fp32 (the reference every faster path is measured against) while a child prepares them in the
    background; the `Preparation` returned says when `load` opens the faster paths (None: nothing to wait for)."""
    return _load(source, Options(device, precision, None, runtime, None, tuple(towers), None), wait=False)


@dataclass(frozen=True)
class Options:
    device: str
    precision: str
    arch: str | ClipConfig | None
    runtime: str
    choose: Callable | None
    towers: tuple[str, ...]
    context_length: int | None


def _load(source: str | Path, o: Options, wait: bool) -> tuple[ClipModel, Preparation | None]:
    if o.runtime not in RUNTIME_CHOICES:
        raise UnsupportedError(f"unknown runtime {o.runtime!r}; use {', '.join(RUNTIME_CHOICES)}")
    if o.precision == o.runtime == "auto" and o.context_length is None:
        model = _cached_model(source, o.device, o.towers)
        if model is not None:
            return model, None
    base = open_runtime(source, o.device, o.arch, o.context_length)
    request = prepare.Request(str(source), o.precision, o.runtime, o.arch, o.context_length, o.choose is None)
    if _prepared(base, request):
        return _open(base, o.precision, o.runtime, o.choose), None
    if not wait and _can_answer_at_once(base, request):
        preparation = prepare.start(request)
        log.warning(
            "zhclip: converting and timing this model's faster paths in a background process (log: %s); until "
            "they are ready this process runs PyTorch fp32, and the process goes on if this command ends first",
            preparation.log,
        )
        return open_model(base, "fp32"), preparation
    if prepare.run(request):
        return _open(base, o.precision, o.runtime, o.choose), None
    if not _can_answer_at_once(base, request):
        raise UnsupportedError(
            f"preparing {source} for {o.runtime} {o.precision} failed; see {prepare.log_path(request.key)}"
        )
    log.warning(
        "zhclip: running %s on PyTorch fp32 (preparing its faster paths failed; see %s)",
        source,
        prepare.log_path(request.key),
    )
    return open_model(base, "fp32"), None


def _can_answer_at_once(base: Runtime, request: prepare.Request) -> bool:
    """PyTorch fp32 may stand in: any runtime was asked for, and the source is a checkpoint."""
    return request.runtime == "auto" and base.kind == "torch"


def _open(base: Runtime, precision: str, runtime: str, choose) -> ClipModel:
    """`base`'s model on the paths asked for, whose conversions are built (here, if they are not)."""
    if runtime == "auto" and precision != "auto":
        return open_model(base, precision)
    runtimes = _runtimes(base, runtime)
    if precision != "auto":
        return open_model(runtimes[0], precision)
    if choose is None:
        from .auto import choose_plan as choose
    return open_plan(runtimes, choose(runtimes))


def convert_here(base: Runtime, precision: str, runtime: str, measure: bool) -> None:
    """Build the conversions the paths asked for need, and for `auto` (with `measure`) time the paths and
    remember the plan: what `prepare`'s child process runs."""
    if runtime == "auto" and precision != "auto":
        return
    runtimes = _runtimes(base, runtime)
    if precision != "auto":
        open_model(runtimes[0], precision)
    elif measure:
        from .auto import choose_plan

        choose_plan(runtimes)
    else:
        for converted in runtimes:
            if converted.kind == "openvino" and "int8" in converted.precisions():
                converted.encoder("int8")


def _runtimes(base: Runtime, runtime: str) -> list[Runtime]:
    runtimes = [r for r in [base, *_conversions(base, runtime)] if runtime in ("auto", r.kind)]
    if not runtimes:
        raise UnsupportedError(f"runtime {runtime!r} cannot run {base.source} ({_why_not(base, runtime)})")
    return runtimes


def _prepared(base: Runtime, request: prepare.Request) -> bool:
    """Whether every conversion the paths asked for need is built (and for `auto`, the plan measured), so that
    opening them converts nothing here."""
    kinds = _kinds(base, request.runtime)
    if request.runtime == "auto" and request.precision != "auto" or kinds in ([], [base.kind]):
        return True  # nothing to convert (or nothing that can: opening says why)
    if not all(installed(kind) for kind in [*kinds, *(["onnxruntime"] if base.kind == "torch" else [])]):
        return True  # nothing to prepare: opening names the extra to install
    if request.precision != "auto":
        paths = [f"{kinds[0]}-{request.precision}"]
    elif request.measure:
        plan = cached_plan([runtime_name(kind) for kind in kinds], base.device, base.config)
        if plan is None:
            return False
        paths = list(plan.values())
    else:
        paths = [f"{kind}-int8" for kind in kinds]  # int8 needs every conversion there is
    return all(_path_built(base, path) for path in paths)


def _kinds(base: Runtime, runtime: str) -> list[str]:
    """The runtimes `runtime` names for `base` (its own and the conversions it may run on), in `_runtimes`' order."""
    others = [] if device_type(base.device) != "cpu" else _wanted(runtime)
    return [k for k in dict.fromkeys([base.kind, *others]) if runtime in ("auto", k)]


def _path_built(base: Runtime, path: str) -> bool:
    kind, _, precision = path.rpartition("-")
    if kind == base.kind:
        return True
    if kind == "openvino" and precision == "int8" and "int8" in _openvino_precisions():
        return _openvino_int8_built(_openvino_key(base))
    return base.kind != "torch" or cache.is_complete(
        cache.cache_root() / "conversions" / EXPORT_CACHE / base.weights_key
    )


def _openvino_precisions() -> list[str]:
    from .openvino import cpu_precisions

    return cpu_precisions()


def _openvino_key(base: Runtime) -> str:
    """The key of OpenVINO's int8 conversion of `base`: its weights, or an export's fp32 files."""
    if base.kind == "torch":
        return base.weights_key
    return cache.files_digest(base.directory / name for name in base.manifest["files"]["fp32"].values())


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


def _wanted(requested: str) -> list[str]:
    return [k for k in ("onnxruntime", "openvino") if k == requested or (requested == "auto" and enabled(k))]


def _conversions(base: Runtime, requested: str) -> list[Runtime]:
    """The other runtimes that can run `base`'s weights on its device (the CPU; NVIDIA GPUs: `cuda`), converting
    them once."""
    if device_type(base.device) == "cuda":
        from .cuda import cuda_runtimes

        return cuda_runtimes(base, requested, os.environ.get(RUNTIMES_ENV))
    if device_type(base.device) != "cpu":
        return []
    wanted = _wanted(requested)
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
