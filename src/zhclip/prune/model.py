"""`zhclip compress prune`: prune a model, optionally recover it by distillation from the unpruned model,
and write `OUT/model.pt` (a Chinese-CLIP checkpoint that `zhclip.load` reads) with `OUT/prune.json`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError, UnsupportedError
from ..io import atomic_path, write_json
from ..models.config import ClipConfig
from ..models.factory import build_network, read_weights
from ..models.flops import count_flops
from ..models.formats import save_cnclip
from ..models.model import param_counts
from ..models.tokenizer import Tokenizer
from ..runtime.calibration import Batch, dataset_batch, synthetic_batch
from .network import prune_network

MODEL_FILE = "model.pt"
REPORT_FILE = "prune.json"


@dataclass
class RecoverOptions:
    """The short distillation run after pruning (teacher: the unpruned model)."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-4
    warmup: int = 20


@dataclass
class PruneOptions:
    ratio: float = 0.3
    data: Path | None = None  # calibration (and recovery) dataset; None: synthetic scenes for calibration
    calibration: int = 32
    recover: RecoverOptions | None = None
    seed: int = 0


# Recovery trains: the trainer lives above this layer, so the caller passes it in as
# recover(pruned_checkpoint, teacher_source, options, run_dir) -> the recovered checkpoint's path.
Recover = Callable[[Path, str, PruneOptions, Path], Path]


def prune_model(
    source: str | Path,
    out: str | Path,
    options: PruneOptions,
    arch: str | None = None,
    recover: Recover | None = None,
) -> dict:
    """Prune `source` into the directory `out`; returns the report also written to OUT/prune.json.
    With `options.recover`, `recover` distils the pruned model from the unpruned one."""
    if options.recover is not None and options.data is None:
        raise InputError(None, "--recover distils on training pairs: give --data DATASET_DIR", field="--data")
    if options.recover is not None and recover is None:
        raise UnsupportedError("pruning with recovery needs a trainer: use `zhclip compress prune --recover`")
    if options.calibration < 1:
        raise InputError(None, f"must be at least 1, got {options.calibration}", field="--calibration")
    weights = read_weights(source, arch)
    network = build_network(weights).eval()
    tokenizer = Tokenizer(weights.vocab, network.config.context_length)
    pruned = prune_network(network, _calibration(options, network.config, tokenizer), options.ratio)
    with atomic_path(out, directory=True) as tmp:
        save_cnclip(pruned.state_dict(), pruned.config, tmp / MODEL_FILE, name=pruned.config.name)
        recovered = None
        if options.recover is not None:
            recovered = read_weights(recover(tmp / MODEL_FILE, weights.source, options, tmp / "recover"))
            save_cnclip(recovered.state_dict, recovered.config, tmp / MODEL_FILE, name=pruned.config.name)
        report = _report(network.config, pruned.config, options, weights.source, recovered is not None)
        write_json(tmp / REPORT_FILE, report)
    return report


def _calibration(options: PruneOptions, config: ClipConfig, tokenizer: Tokenizer) -> Batch:
    size = config.vision.image_size
    if options.data is not None:
        return dataset_batch(options.data, options.calibration, size, tokenizer)
    return synthetic_batch(options.calibration, size, tokenizer, seed=options.seed)


def _report(before: ClipConfig, after: ClipConfig, options: PruneOptions, source: str, recovered: bool) -> dict:
    sizes = {}
    for name, config in (("before", before), ("after", after)):
        params = param_counts(config)
        sizes[name] = {
            "parameters": sum(params.values()),
            **{f"{k}_parameters": v for k, v in params.items()},
            **{f"{k}_flops": v for k, v in count_flops(config).items()},
        }
    return {
        "source": source,
        "model": MODEL_FILE,
        "ratio": options.ratio,
        "calibration": str(options.data) if options.data else f"synthetic scenes x{options.calibration}",
        "recovered": asdict(options.recover) if recovered else None,
        "reduction": {k: round(1 - sizes["after"][k] / sizes["before"][k], 4) for k in sizes["before"]},
        **sizes,
        "layers": {
            "vision_heads": after.vision.layer_heads,
            "vision_mlp": after.vision.layer_mlp_dims,
            "text_heads": after.text.layer_heads,
            "text_mlp": after.text.layer_mlp_dims,
        },
    }
