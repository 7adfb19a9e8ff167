"""Checkpoint formats: Chinese-CLIP `.pt`/`.pth` (native key layout) and Hugging Face `ChineseCLIPModel` dirs.

Everything here works on state dicts in the source dtype, so conversions are bit-exact.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from pathlib import Path

import torch

from ..errors import CheckpointError, InputError
from .config import ClipConfig, TextConfig, VisionConfig, arch_config, known_archs, name_for
from .network import ClipNetwork

StateDict = dict[str, torch.Tensor]

_HF_VISION_RENAMES = [
    ("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"),
    ("visual.class_embedding", "vision_model.embeddings.class_embedding"),
    ("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"),
    ("visual.ln_pre.", "vision_model.pre_layrnorm."),
    ("visual.ln_post.", "vision_model.post_layernorm."),
]
_HF_BLOCK_RENAMES = [
    ("attn.out_proj.", "self_attn.out_proj."),
    ("ln_1.", "layer_norm1."),
    ("ln_2.", "layer_norm2."),
    ("mlp.c_fc.", "mlp.fc1."),
    ("mlp.c_proj.", "mlp.fc2."),
]
_NATIVE_BLOCK = re.compile(r"^visual\.transformer\.resblocks\.(\d+)\.(.+)$")
_HF_BLOCK = re.compile(r"^vision_model\.encoder\.layers\.(\d+)\.(.+)$")
_IGNORED = re.compile(r"(^bert\.pooler\.|^text_model\.pooler\.|position_ids$)")


# ---------------------------------------------------------------- reading


def read_checkpoint_file(path: Path) -> dict:
    """The raw object stored in a `.pt`/`.pth`/`.bin`/`.safetensors` file."""
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        damaged = _damaged_member(path)
        if damaged:
            raise CheckpointError(
                path,
                f"damaged checkpoint: {damaged} fails its CRC check (a disk, copy or download error); use another copy",
            )
        return torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as exc:  # torch raises many types for corrupt/truncated/non-torch files
        raise CheckpointError(path, f"not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)})") from None


def _damaged_member(path: Path) -> str | None:
    """The first member of a zip checkpoint (torch's format) whose CRC does not match, if any. torch.load
    does not check CRCs, so a flipped bit in tensor data would otherwise load silently."""
    if not zipfile.is_zipfile(path):
        return None  # legacy pickle checkpoints carry no checksums
    with zipfile.ZipFile(path) as archive:
        return archive.testzip()


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def native_state_dict(raw: object, path: Path) -> StateDict:
    """Chinese-CLIP key layout from a training checkpoint, a bare state dict, or a HF state dict."""
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(path, "does not hold a state dict of tensors (nor a dict with 'state_dict')")
    sd = {k.removeprefix("module.").removeprefix("clip_model."): v for k, v in raw.items()}  # DDP; ModelScope
    sd = {k: v for k, v in sd.items() if not _IGNORED.search(k)}
    if any(k.startswith(("vision_model.", "text_model.")) for k in sd):
        sd = hf_to_native(sd)
    return sd


def hf_to_native(hf: StateDict) -> StateDict:
    out: StateDict = {}
    qkv: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in hf.items():
        if key.startswith("text_model."):
            out["bert." + key.removeprefix("text_model.")] = value
        elif key == "visual_projection.weight":
            out["visual.proj"] = value.t().contiguous()
        elif key == "text_projection.weight":
            out["text_projection"] = value.t().contiguous()
        elif key == "logit_scale":
            out[key] = value
        elif m := _HF_BLOCK.match(key):
            layer, rest = int(m.group(1)), m.group(2)
            if rest.startswith(("self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.")):
                qkv.setdefault(layer, {})[rest] = value
            else:
                out[f"visual.transformer.resblocks.{layer}.{_rename(rest, _HF_BLOCK_RENAMES, reverse=True)}"] = value
        else:
            out[_rename(key, _HF_VISION_RENAMES, reverse=True)] = value
    for layer, parts in qkv.items():
        prefix = f"visual.transformer.resblocks.{layer}.attn.in_proj_"
        for kind in ("weight", "bias"):
            try:
                stacked = [parts[f"self_attn.{p}_proj.{kind}"] for p in "qkv"]
            except KeyError as exc:
                raise CheckpointError(None, f"vision layer {layer} lacks {exc.args[0]}") from None
            out[prefix + kind] = torch.cat(stacked, dim=0)
    return out


def native_to_hf(sd: StateDict) -> StateDict:
    out: StateDict = {}
    for key, value in sd.items():
        if key.startswith("bert."):
            out["text_model." + key.removeprefix("bert.")] = value
        elif key == "visual.proj":
            out["visual_projection.weight"] = value.t().contiguous()
        elif key == "text_projection":
            out["text_projection.weight"] = value.t().contiguous()
        elif key == "logit_scale":
            out[key] = value
        elif m := _NATIVE_BLOCK.match(key):
            layer, rest = m.group(1), m.group(2)
            prefix = f"vision_model.encoder.layers.{layer}."
            if rest.startswith("attn.in_proj_"):
                kind = rest.removeprefix("attn.in_proj_")
                for part, chunk in zip("qkv", value.chunk(3, dim=0), strict=True):
                    out[f"{prefix}self_attn.{part}_proj.{kind}"] = chunk.contiguous()
            else:
                out[prefix + _rename(rest, _HF_BLOCK_RENAMES)] = value
        else:
            out[_rename(key, _HF_VISION_RENAMES)] = value
    return out


def _rename(key: str, table: list[tuple[str, str]], reverse: bool = False) -> str:
    for native, hf in table:
        src, dst = (hf, native) if reverse else (native, hf)
        if key.startswith(src):
            return dst + key[len(src) :]
    return key


# ---------------------------------------------------------------- architecture


def infer_config(sd: StateDict, path: Path | None = None) -> ClipConfig:
    """Architecture from tensor shapes: a zoo/preset whose shapes fit, else a custom config.

    Head counts are not visible in shapes; custom configs assume 64-wide heads (80 for width 1280).
    """
    for name in known_archs():
        try:
            check_shapes(sd, arch_config(name), path)
            return arch_config(name)
        except CheckpointError:
            continue
    try:
        config = _config_from_shapes(sd)
    except KeyError as exc:
        raise CheckpointError(path, f"not a Chinese-CLIP checkpoint: missing key {exc.args[0]!r}") from None
    check_shapes(sd, config, path)
    return config


def _config_from_shapes(sd: StateDict) -> ClipConfig:
    conv = sd["visual.conv1.weight"]
    width, patch = conv.shape[0], conv.shape[-1]
    grid = math.isqrt(sd["visual.positional_embedding"].shape[0] - 1)
    head_width = 80 if width == 1280 else 64
    v_layers = _count_layers(sd, "visual.transformer.resblocks.")
    v_heads = [
        sd[f"visual.transformer.resblocks.{i}.attn.in_proj_weight"].shape[0] // 3 // head_width for i in range(v_layers)
    ]
    v_mlp = [sd[f"visual.transformer.resblocks.{i}.mlp.c_fc.weight"].shape[0] for i in range(v_layers)]
    vision = VisionConfig(
        image_size=grid * patch,
        patch_size=patch,
        width=width,
        layers=v_layers,
        head_width=head_width,
        mlp_ratio=v_mlp[0] / width,
    )
    _set_layer_overrides(vision, v_heads, v_mlp, width // head_width, int(width * vision.mlp_ratio))

    words = sd["bert.embeddings.word_embeddings.weight"]
    hidden = words.shape[1]
    t_layers = _count_layers(sd, "bert.encoder.layer.")
    heads = max(1, hidden // 64)
    t_heads = [
        sd[f"bert.encoder.layer.{i}.attention.self.query.weight"].shape[0] // (hidden // heads) for i in range(t_layers)
    ]
    t_mlp = [sd[f"bert.encoder.layer.{i}.intermediate.dense.weight"].shape[0] for i in range(t_layers)]
    text = TextConfig(
        vocab_size=words.shape[0],
        hidden_size=hidden,
        layers=t_layers,
        heads=heads,
        intermediate_size=t_mlp[0],
        max_positions=sd["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=sd["bert.embeddings.token_type_embeddings.weight"].shape[0],
    )
    _set_layer_overrides(text, t_heads, t_mlp, heads, t_mlp[0])
    return ClipConfig(embed_dim=sd["visual.proj"].shape[1], vision=vision, text=text)


def _count_layers(sd: StateDict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for k in sd if (m := pattern.match(k))}
    if not indices:
        raise KeyError(prefix + "0")
    return max(indices) + 1


def _set_layer_overrides(cfg, heads: list[int], mlp: list[int], uniform_heads: int, uniform_mlp: int) -> None:
    if any(h != uniform_heads for h in heads) or any(m != uniform_mlp for m in mlp):
        cfg.layer_heads, cfg.layer_mlp_dims = heads, mlp


def resolve_config(sd: StateDict, arch: str | ClipConfig | None, path: Path | None) -> ClipConfig:
    if arch is None:
        return infer_config(sd, path)
    config = arch if isinstance(arch, ClipConfig) else arch_config(arch)
    check_shapes(sd, config, path)
    return config


def check_shapes(sd: StateDict, config: ClipConfig, path: Path | None) -> None:
    """Raise CheckpointError naming the first keys that do not fit `config`."""
    with torch.device("meta"):
        expected = {k: v.shape for k, v in ClipNetwork(config).state_dict().items()}
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = [
        f"{k} has shape {tuple(sd[k].shape)}, expected {tuple(s)}"
        for k, s in expected.items()
        if k in sd and sd[k].shape != s
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (e.g. {'; '.join(wrong[:2])})")
    if problems:
        raise CheckpointError(path, f"does not fit architecture {config.name!r}: " + "; ".join(problems))


# ---------------------------------------------------------------- Hugging Face directories

ZHCLIP_CONFIG = "zhclip_config.json"


def read_hf_dir(directory: Path) -> tuple[StateDict, ClipConfig]:
    config_path = directory / "config.json"
    try:
        hf_config = json.loads(config_path.read_text())
        config = config_from_hf(hf_config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(config_path, f"not a ChineseCLIPModel config ({_first_line(exc)})") from None
    if (directory / ZHCLIP_CONFIG).is_file():
        config = ClipConfig.from_dict(json.loads((directory / ZHCLIP_CONFIG).read_text()))
    weights = _hf_weight_files(directory)
    raw: StateDict = {}
    for file in weights:
        raw.update(read_checkpoint_file(file))
    sd = native_state_dict(raw, weights[0])
    check_shapes(sd, config, directory)
    config.name = name_for(config)
    return sd, config


def _hf_weight_files(directory: Path) -> list[Path]:
    for pattern in ("model*.safetensors", "pytorch_model*.bin"):
        files = sorted(p for p in directory.glob(pattern) if not p.name.endswith(".index.json"))
        if files:
            return files
    raise CheckpointError(directory, "no weights found (expected model.safetensors or pytorch_model.bin)")


def config_from_hf(hf: dict) -> ClipConfig:
    v, t = hf["vision_config"], hf["text_config"]
    width = v.get("hidden_size", 768)
    heads = v.get("num_attention_heads", 12)
    vision = VisionConfig(
        image_size=v.get("image_size", 224),
        patch_size=v.get("patch_size", 32),
        width=width,
        layers=v.get("num_hidden_layers", 12),
        head_width=width // heads,
        mlp_ratio=v.get("intermediate_size", 3072) / width,
    )
    text = TextConfig(
        vocab_size=t.get("vocab_size", 30522),
        hidden_size=t.get("hidden_size", 768),
        layers=t.get("num_hidden_layers", 12),
        heads=t.get("num_attention_heads", 12),
        intermediate_size=t.get("intermediate_size", 3072),
        max_positions=t.get("max_position_embeddings", 512),
        type_vocab_size=t.get("type_vocab_size", 2),
    )
    return ClipConfig(embed_dim=hf.get("projection_dim", 512), vision=vision, text=text)


def hf_config_dict(config: ClipConfig) -> dict:
    """config.json contents for transformers' ChineseCLIPModel."""
    from transformers import ChineseCLIPConfig

    if config.vision.layer_heads or config.text.layer_heads:
        from ..errors import UnsupportedError

        raise UnsupportedError(
            "a pruned model (per-layer head/MLP sizes) has no Hugging Face config; save it with --to cnclip"
        )
    v, t = config.vision, config.text
    hf = ChineseCLIPConfig(
        projection_dim=config.embed_dim,
        logit_scale_init_value=2.6592,
        vision_config=dict(
            hidden_size=v.width,
            intermediate_size=v.mlp_dim(0),
            num_hidden_layers=v.layers,
            num_attention_heads=v.heads(0),
            image_size=v.image_size,
            patch_size=v.patch_size,
            hidden_act="quick_gelu",
            projection_dim=config.embed_dim,
        ),
        text_config=dict(
            vocab_size=t.vocab_size,
            hidden_size=t.hidden_size,
            num_hidden_layers=t.layers,
            num_attention_heads=t.heads,
            intermediate_size=t.intermediate_size,
            max_position_embeddings=t.max_positions,
            type_vocab_size=t.type_vocab_size,
        ),
    )
    hf.architectures = ["ChineseCLIPModel"]
    return hf.to_dict()
