"""Write checkpoints in either format; `convert` goes between them without touching the numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ..errors import InputError
from ..io import atomic_path
from .checkpoint import ZHCLIP_CONFIG, StateDict, hf_config_dict, native_to_hf
from .config import ClipConfig
from .factory import read_weights
from .tokenizer import BUNDLED_VOCAB

FORMATS = ("hf", "cnclip")


def save_cnclip(
    state_dict: StateDict,
    config: ClipConfig,
    out: str | Path,
    *,
    epoch: int = 0,
    step: int = 0,
    name: str | None = None,
    extra: dict | None = None,
) -> Path:
    """A Chinese-CLIP training checkpoint: `module.`-prefixed state dict plus epoch/step/name."""
    out = Path(out)
    payload = {
        "epoch": epoch,
        "step": step,
        "name": name or f"zhclip-{config.name}",
        "state_dict": {f"module.{k}": v for k, v in state_dict.items()},
        "zhclip_config": config.to_dict(),
        **(extra or {}),
    }
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return out


def save_hf(state_dict: StateDict, config: ClipConfig, out: str | Path, vocab: Path | None = None) -> Path:
    """A Hugging Face ChineseCLIPModel directory that transformers (and zhclip) load."""
    from safetensors.torch import save_file
    from transformers import BertTokenizer, ChineseCLIPImageProcessorPil, ChineseCLIPProcessor

    out = Path(out)
    hf_config = hf_config_dict(config)
    size = config.vision.image_size
    with atomic_path(out, directory=True) as tmp:
        (tmp / "config.json").write_text(json.dumps(hf_config, indent=2, ensure_ascii=False) + "\n")
        tensors = {k: v.contiguous() for k, v in native_to_hf(state_dict).items()}
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        processor = ChineseCLIPProcessor(
            image_processor=ChineseCLIPImageProcessorPil(
                size={"height": size, "width": size},
                crop_size={"height": size, "width": size},
                do_center_crop=False,
                resample=3,
            ),
            tokenizer=BertTokenizer(str(vocab or BUNDLED_VOCAB), model_max_length=config.context_length),
        )
        processor.save_pretrained(str(tmp))
        # Older transformers and other tools look for these two files.
        processor.image_processor.save_pretrained(str(tmp))
        shutil.copyfile(vocab or BUNDLED_VOCAB, tmp / "vocab.txt")
        (tmp / ZHCLIP_CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return out


def convert(src: str | Path, dst: str | Path, to: str, arch: str | None = None) -> Path:
    if to not in FORMATS:
        raise InputError(None, f"unknown target format {to!r}; use one of {', '.join(FORMATS)}", field="--to")
    weights = read_weights(src, arch)
    if Path(dst).resolve() == Path(weights.source).resolve():
        raise InputError(dst, "destination is the source; choose another path")
    if to == "hf":
        return save_hf(weights.state_dict, weights.config, dst, weights.vocab)
    return save_cnclip(weights.state_dict, weights.config, dst)
