"""`zhclip bench encode`: encoding speed, memory, size and fidelity of every path (transformers'
ChineseCLIPModel as other tools run it; PyTorch, ONNX Runtime and OpenVINO in each precision; on an NVIDIA GPU its
paths too, with peak GPU memory (`gpu`); what `auto` picks),
each in a fresh process, with the fp32 PyTorch path measured in the same run as the baseline (ratios per round),
and each path's image throughput as a fraction of its precision's GEMM-bound limit on this machine (`roofline`)."""

from __future__ import annotations

import resource
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import InputError, ZhclipError
from ..extras import require
from ..models.config import arch_config
from ..models.device import supported_precisions
from ..models.factory import random_model, read_weights
from ..models.formats import save_cnclip
from ..runtime import load
from ..runtime.calibration import Batch, synthetic_batch
from ..runtime.machine import describe_machine
from ..runtime.measure import mean_cosine, median, percentile, timings
from ..runtime.onnx import ONNX_PRECISIONS, is_export_dir
from .gpu import (
    MEMORY_TITLE,
    gpu_paths,
    gpu_peak,
    is_gpu_path,
    memory_lines,
    open_gpu_path,
    reset_gpu_peak,
    split_gpu_path,
    weights_bytes,
)
from .roofline import GemmShape, gemm_peaks, image_gemm_flops, limit_images_per_s, vit_gemm_shape

QUERY = "一只在草地上奔跑的小狗"
TEXT_BATCH = 64
IMAGE_BATCH = 32  # the batched image measurement, and the GEMM rows of the roofline (x tokens per image)
FIDELITY_ROWS = 8


@dataclass
class BenchSettings:
    quick: bool = False
    rounds: int = 2

    @property
    def runs(self) -> dict[str, int]:
        if self.quick:
            return {"image1": 3, "image32": 1, "query": 10, "text_batch": 1, "gemm": 1}
        return {"image1": 5, "image32": 2, "query": 30, "text_batch": 2, "gemm": 3}


@dataclass
class BenchPath:
    name: str  # "torch fp32", "onnx int8", ...
    source: str
    precision: str
    image_flops: int  # GEMM FLOPs of one image through its image tower
    rounds: list[dict] = field(default_factory=list)
    runtime: str = "torch"  # or "onnxruntime", "openvino", "transformers", "auto"


PATH_RUNTIMES = {"transformers": "transformers", "torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}


def available_paths(onnx: bool = True, openvino: bool = False) -> list[str]:
    """Path names this machine can run: transformers fp32, PyTorch precisions on the CPU, ONNX Runtime and
    OpenVINO ones, `auto` (the plan `precision="auto"` picks), and where CUDA is present the GPU paths."""
    names = ["transformers-fp32", *(f"torch-{p}" for p in supported_precisions(torch.device("cpu")))]
    names += [f"onnx-{p}" for p in ONNX_PRECISIONS] if onnx else []
    if openvino:
        from ..runtime.openvino import cpu_precisions

        names += [f"openvino-{p}" for p in cpu_precisions()]
    return [*names, "auto", *gpu_paths()]


def path_names(names: list[str]) -> list[str]:
    """Full path names: a bare precision (`int8`) means PyTorch's."""
    return [n if n == "auto" or is_gpu_path(n) or n.split("-")[0] in PATH_RUNTIMES else f"torch-{n}" for n in names]


def bench_encode(
    model: str | None,
    paths: list[str],
    settings: BenchSettings,
    random_arch: str | None = None,
    baseline: str | None = None,
    onnx_dir: str | None = None,
) -> dict:
    """Measure every path in `paths` (names from `available_paths`) plus the torch-fp32 baseline."""
    known = available_paths(openvino=any(p.startswith("openvino-") for p in paths))
    unknown = sorted(set(paths) - set(known))
    if unknown:
        raise InputError(None, f"unknown path {unknown[0]!r}; available here: {', '.join(known)}", field="--precision")
    if (model is None) == (random_arch is None):
        raise InputError(None, "give --model or --random-arch, exactly one", field="--model")
    if any(p.startswith(("onnx-", "openvino-")) for p in paths):
        require("onnx")
    if any(p.startswith("openvino-") for p in paths):
        require("openvino")
    if model is not None and is_export_dir(model):
        raise InputError(
            model,
            "the baseline runs on PyTorch: give the source model as --model and this export as --onnx",
            field="--model",
        )
    with tempfile.TemporaryDirectory(prefix="zhclip-bench-") as work:
        source = model or _random_checkpoint(random_arch, Path(work))
        onnx_source = onnx_dir or _export_if_needed(source, paths, Path(work))
        config = read_weights(source).config
        flops = image_gemm_flops(config)
        base_flops = flops if baseline is None else image_gemm_flops(read_weights(baseline).config)
        runs = [BenchPath("baseline torch fp32", baseline or source, "fp32", base_flops)]
        hf_flops = image_gemm_flops(config, every_token_last=True)
        runs += [
            _bench_path(name, source, onnx_source, hf_flops if name.startswith("transformers") else flops, Path(work))
            for name in paths
        ]
        probe = synthetic_batch(IMAGE_BATCH, config.vision.image_size, seed=1)
        shape = vit_gemm_shape(config, IMAGE_BATCH)
        steps = tqdm([run for _ in range(settings.rounds) for run in runs], desc="bench encode", unit="path")
        for run in steps:
            steps.set_postfix_str(run.name)
            run.rounds.append(_in_fresh_process(run, probe, shape, settings))
        for run in runs:
            plan = next((r["paths"] for r in run.rounds if "paths" in r), None)
            if run.precision == "auto" and plan:
                run.name = f"{run.name} (image {plan['image']}, text {plan['text']})"
    result = summarize(runs, model or f"random weights ({random_arch})")
    memory = {"arch": config.name, **weights_bytes(config)}
    return {**result, "machine": describe_machine(), "roofline": roofline(runs, shape), "memory": memory}


def _random_checkpoint(arch: str, work: Path) -> str:
    network = random_model(arch_config(arch), seed=0)
    return str(save_cnclip(network.state_dict(), network.config, work / f"random-{arch}.pt"))


def _bench_path(name: str, source: str, onnx_source: str | None, flops: int, work: Path) -> BenchPath:
    if name == "auto":
        return BenchPath("auto", source, "auto", flops, runtime="auto")
    if is_gpu_path(name):
        kind, precision = split_gpu_path(name)
        label = "gpu auto" if kind == "auto" else f"gpu {kind} {precision}"
        return BenchPath(label, source, precision, flops, runtime=name)
    prefix, precision = name.split("-")
    if prefix == "transformers":
        source = _hf_copy(source, work)
    elif prefix == "onnx" and onnx_source is not None:
        source = onnx_source
    return BenchPath(name.replace("-", " "), source, precision, flops, runtime=PATH_RUNTIMES[prefix])


def _hf_copy(source: str, work: Path) -> str:
    """The weights as a Hugging Face ChineseCLIPModel directory, for the transformers path."""
    from ..models.formats import save_hf

    out = work / "hf"
    if not out.is_dir():
        weights = read_weights(source)
        save_hf(weights.state_dict, weights.config, out)
    return str(out)


def _export_if_needed(source: str, paths: list[str], work: Path) -> str | None:
    """A temporary export only for precisions the cached conversion lacks (it holds fp32 and int8)."""
    precisions = [name.split("-")[1] for name in paths if name.startswith("onnx-")]
    if not precisions or set(precisions) <= {"fp32", "int8"}:
        return None
    from ..runtime.onnx_export import export_onnx

    return str(export_onnx(source, work / "onnx", precisions))


def _in_fresh_process(run: BenchPath, probe: Batch, shape: GemmShape, settings: BenchSettings) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        job = pool.submit(measure_path, run.source, run.precision, probe, shape, settings.runs, run.runtime)
        return job.result()


def measure_path(
    source: str, precision: str, probe: Batch, shape: GemmShape, runs: dict[str, int], runtime: str = "torch"
) -> dict:
    """Run in a child process: load one path and time it, and its precision's GEMM peak at `shape` right after
    its batched images (so both see the same load). Errors come back as {"error": message}."""
    try:
        model = _open(source, precision, runtime)
    except ZhclipError as exc:
        return {"error": str(exc)}
    image_path = model.paths["image"]
    precision = image_path.rpartition("-")[2]
    _reset_peak_memory()
    reset_gpu_peak()
    query = model.tokenizer([QUERY])
    texts = probe.ids[:TEXT_BATCH].repeat(-(-TEXT_BATCH // len(probe)), 1)[:TEXT_BATCH]
    image1 = timings(lambda: model.encode_pixels(probe.pixels[:1]), runs["image1"])
    batch = probe.pixels[:IMAGE_BATCH]
    image32 = timings(lambda: model.encode_pixels(batch), runs["image32"], warmup=int(runs["image32"] > 1))
    on_gpu = is_gpu_path(runtime)
    peak = (
        {"error": "a GPU path (the GEMM limit is the CPU's)"}
        if on_gpu
        else gemm_peaks([precision], shape, runs["gemm"])[precision]
    )
    query_s = timings(lambda: model.encode_ids(query), runs["query"], warmup=2)
    batch_s = timings(lambda: model.encode_ids(texts), runs["text_batch"])
    return {
        "image_b1_per_s": 1 / median(image1),
        "image_b32_per_s": len(batch) / median(image32),
        "gemm_peak": peak,
        "query_p50_ms": 1000 * percentile(query_s, 50),
        "query_p95_ms": 1000 * percentile(query_s, 95),
        "texts_per_s": len(texts) / median(batch_s),
        "peak_mb": _peak_memory_mb(),
        "size_mb": model.weight_bytes / 2**20,
        "image_embeddings": model.encode_pixels(probe.pixels[:FIDELITY_ROWS]),
        "text_embeddings": model.encode_ids(probe.ids[:FIDELITY_ROWS]),
        "paths": model.paths,
        **(gpu_peak(model.paths) if on_gpu else {}),
    }


def _open(source: str, precision: str, runtime: str):
    if runtime == "transformers":
        return TransformersModel(source)
    if is_gpu_path(runtime):
        return open_gpu_path(source, *split_gpu_path(runtime))
    return load(source, device="cpu", precision=precision, runtime=runtime)


class TransformersModel:
    """transformers' ChineseCLIPModel in fp32, as MaterialSearch and most scripts run it, behind the two
    methods the measurement calls."""

    def __init__(self, hf_dir: str):
        from transformers import ChineseCLIPModel

        from ..models.tokenizer import Tokenizer

        self.network = ChineseCLIPModel.from_pretrained(hf_dir).eval()
        self.tokenizer = Tokenizer(Path(hf_dir) / "vocab.txt")
        self.paths = {"image": "transformers-fp32", "text": "transformers-fp32"}
        self.weight_bytes = sum(p.numel() * p.element_size() for p in self.network.parameters())

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor):
        return _unit(self.network.get_image_features(pixel_values=pixels))

    @torch.inference_mode()
    def encode_ids(self, ids: torch.Tensor):
        mask = (ids != 0).long()
        return _unit(self.network.get_text_features(input_ids=ids, attention_mask=mask, token_type_ids=0 * mask))


def _unit(features) -> object:
    features = getattr(features, "pooler_output", features)
    return torch.nn.functional.normalize(features.float(), dim=-1).numpy()


def _reset_peak_memory() -> None:
    """Start the peak-RSS count after loading (Linux `clear_refs`), so peak memory means while encoding."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_memory_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- summary

SPEED_KEYS = ("image_b1_per_s", "image_b32_per_s", "texts_per_s")
LATENCY_KEYS = ("query_p50_ms", "query_p95_ms")


def summarize(runs: list[BenchPath], weights: str) -> dict:
    """Median over rounds of each metric, and of each round's ratio to the same round's baseline."""
    baseline = runs[0]
    rows = []
    for run in runs:
        errors = [r["error"] for r in run.rounds if "error" in r]
        if errors:
            rows.append({"path": run.name, "error": errors[0]})
            continue
        row = {"path": run.name}
        for key in (*SPEED_KEYS, *LATENCY_KEYS, "peak_mb", "size_mb"):
            row[key] = median([r[key] for r in run.rounds])
        for key in (*SPEED_KEYS, *LATENCY_KEYS):
            ratios = [_ratio(key, r[key], b[key]) for r, b in zip(run.rounds, baseline.rounds, strict=True)]
            row[f"{key}_x"] = median(ratios)
        first, ref = run.rounds[0], baseline.rounds[0]
        row["fidelity"] = min(mean_cosine(first[k], ref[k]) for k in ("image_embeddings", "text_embeddings"))
        if "gpu_memory_by" in first:
            peaks = [r["gpu_peak_mb"] for r in run.rounds if r["gpu_peak_mb"] is not None]
            row.update(gpu_peak_mb=max(peaks, default=None), gpu_memory_by=first["gpu_memory_by"])
        rows.append(row)
    return {"weights": weights, "rounds": len(baseline.rounds), "rows": rows}


def _ratio(key: str, value: float, base: float) -> float:
    """Speed-up over the baseline: higher is better for rates, so latencies are inverted."""
    return base / value if key in LATENCY_KEYS else value / base


def format_table(result: dict) -> str:
    return f"{_markdown(speed_lines(result))}\n{MEMORY_TITLE}:\n{_markdown(memory_lines(result))}"


def speed_lines(result: dict) -> list[list[str]]:
    """The speed table: a header, then one line per path."""
    header = [
        "path",
        "img/s b1",
        "img/s b32",
        "text p50 ms",
        "text p95 ms",
        "texts/s b64",
        "peak MB",
        "size MB",
        "cos vs fp32",
    ]
    return _path_lines(
        header,
        result["rows"],
        lambda row: [
            *(
                f"{row[k]:.2f} ({row[k + '_x']:.2f}x)" if row[k] < 100 else f"{row[k]:.0f} ({row[k + '_x']:.2f}x)"
                for k in ("image_b1_per_s", "image_b32_per_s", "query_p50_ms", "query_p95_ms", "texts_per_s")
            ),
            f"{row['peak_mb']:.0f}",
            f"{row['size_mb']:.1f}",
            f"{row['fidelity']:.5f}",
        ],
    )


def _path_lines(header: list[str], rows: list[dict], cells) -> list[list[str]]:
    """A header, then one line per path: its name, then `cells(row)`, or why it is unavailable."""
    lines = [header]
    for row in rows:
        lines.append([row["path"], f"unavailable: {row['error']}"] if "error" in row else [row["path"], *cells(row)])
    return lines


def _markdown(lines: list[list[str]]) -> str:
    width = max(len(line) for line in lines)
    lines = [line + [""] * (width - len(line)) for line in lines]
    out = ["| " + " | ".join(line) + " |" for line in lines]
    out.insert(1, "|" + "---|" * width)
    return "\n".join(out)


# ---------------------------------------------------------------- roofline


def roofline(runs: list[BenchPath], shape: GemmShape) -> dict:
    """Each path's batched image throughput as a fraction of its precision's GEMM-bound limit. A precision's peak
    is the fastest its GEMM ran anywhere in this run (every path's process measures it right after its images):
    on a shared VM one moment's peak varied 600-1100 GFLOP/s, and a peak is what the machine can do, so the
    fastest sample is the limit and every path of a precision is held to the same one."""
    rows, measured = [], {}
    for run in runs:
        error = next((r["error"] for r in run.rounds if "error" in r), None)
        error = error or next((r["gemm_peak"]["error"] for r in run.rounds if "error" in r["gemm_peak"]), None)
        if error:
            rows.append({"path": run.name, "precision": run.precision, "error": error})
            continue
        image_path = run.rounds[0].get("paths", {}).get("image", run.precision)
        precision = image_path.rpartition("-")[2]
        measured.setdefault(precision, []).extend(r["gemm_peak"] for r in run.rounds)
        rows.append({"path": run.name, "precision": precision, "image_gflops": run.image_flops / 1e9, "run": run})
    peaks = {precision: max(samples, key=lambda p: p["gflops"]) for precision, samples in measured.items()}
    for row in rows:
        run = row.pop("run", None)
        if run is None:
            continue
        peak = peaks[row["precision"]]
        limit = limit_images_per_s(peak["gflops"], run.image_flops)
        speed = median([r["image_b32_per_s"] for r in run.rounds])
        row.update(peak_gflops=peak["gflops"], kernel=peak["kernel"], limit_per_s=limit, image_b32_per_s=speed)
        row["of_limit"] = speed / limit
    samples = {p: {"slowest": min(s["gflops"] for s in found), "count": len(found)} for p, found in measured.items()}
    return {"shape": str(shape), "batch": IMAGE_BATCH, "rows": rows, "peak_samples": samples}


def format_roofline(result: dict) -> str:
    """The roofline table: every path's images/s beside its precision's limit, and its cosine to fp32."""
    spread = roofline_spread(result)
    return f"{roofline_title(result)}\n{_markdown(roofline_lines(result))}" + (f"\n{spread}" if spread else "")


def roofline_title(result: dict) -> str:
    shape = result["roofline"]["shape"]
    return f"GEMM-bound limit (peak: the fastest kernel for the precision at {shape}, this machine):"


def roofline_lines(result: dict) -> list[list[str]]:
    roof = result["roofline"]
    fidelity = {row["path"]: row.get("fidelity") for row in result["rows"]}
    header = ["path", "GFLOPs/img", "GEMM peak GFLOP/s", "kernel", "limit img/s", f"img/s b{roof['batch']}"]
    return _path_lines(
        [*header, "of limit", "cos vs fp32"],
        roof["rows"],
        lambda row: [
            f"{row['image_gflops']:.2f}",
            f"{row['peak_gflops']:.0f}",
            row["kernel"],
            f"{row['limit_per_s']:.2f}",
            f"{row['image_b32_per_s']:.2f}",
            f"{row['of_limit']:.0%}",
            f"{fidelity[row['path']]:.5f}",
        ],
    )


def roofline_spread(result: dict) -> str:
    """How far the GEMM samples of each precision ranged ('' when none were taken)."""
    roof = result["roofline"]
    peaks = {row["precision"]: row["peak_gflops"] for row in roof["rows"] if "peak_gflops" in row}
    spread = [
        f"{p} {s['slowest']:.0f}-{peaks[p]:.0f} over {s['count']}" for p, s in roof.get("peak_samples", {}).items()
    ]
    return f"the fastest GEMM sample of the run is the peak; samples (GFLOP/s): {'; '.join(spread)}" if spread else ""


# ---------------------------------------------------------------- results file


def results_file(result: dict, command: str) -> dict:
    """The run as the JSON every benchmark writes (`zhclip.bench.results`): both tables, and as headline the
    fastest batched image path against the baseline (and against transformers when it ran)."""
    from .results import headline, results_document, table

    speed, roof = speed_lines(result), roofline_lines(result)
    measured = [row for row in result["rows"][1:] if "error" not in row]
    best = max(measured, key=lambda row: row["image_b32_per_s"], default=None)
    base = result["rows"][0]
    headlines = []
    if best is not None and "error" not in base:
        reference = next((r for r in measured if r["path"].startswith("transformers")), base)
        times = best["image_b32_per_s"] / reference["image_b32_per_s"]
        headlines.append(
            headline(
                f"image tower of {result['weights']}, batch {IMAGE_BATCH}, images/s",
                f"{reference['path']}: {reference['image_b32_per_s']:.2f}",
                f"{best['path']}: {best['image_b32_per_s']:.2f} ({times:.2f}x), cosine {best['fidelity']:.4f}",
            )
        )
    title = f"Encoding speed of every path: {result['weights']}"
    tables = [
        table(f"{result['rounds']} round(s), medians; (Nx) = ratio to the baseline of the same round", *_split(speed)),
        table(f"{roofline_title(result)} {roofline_spread(result)}".strip(), *_split(roof)),
        table(MEMORY_TITLE, *_split(memory_lines(result))),
    ]
    return results_document("bench-encode", title, command, tables, headlines, data=result)


def _split(lines: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    return lines[0], lines[1:]
