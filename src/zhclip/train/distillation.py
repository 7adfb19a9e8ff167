"""Knowledge distillation: a frozen teacher (any loadable model, any size) and the student's loss terms.

Terms (REFERENCE.md §2), each with its weight in `DistillConfig` (0 leaves it out):
`contrastive` the student's own InfoNCE; `kl` KL(teacher || student) of the in-batch similarity
distributions, both directions, at a temperature; `feature_image` / `feature_text` cosine or MSE between
student and teacher embeddings, through a learned linear projection when the embed dims differ;
`interactive` InfoNCE of student images vs teacher texts and student texts vs teacher images.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..evaluate.features import Shard
from ..models.factory import Weights, build_network
from ..models.network import ClipNetwork
from ..models.tokenizer import BUNDLED_VOCAB, Tokenizer
from . import distributed as D
from . import teacher_cache
from .config import DistillConfig
from .losses import clip_loss, feature_alignment, interactive_contrastive, similarity_kl
from .objectives import ContrastiveObjective, Features

log = logging.getLogger("zhclip.train")


def check_vocab(student_vocab: Path | None, student: ClipNetwork, teacher: Weights) -> None:
    """Teacher and student read the same token ids, so they must share the vocabulary."""
    same_file = _vocab_bytes(student_vocab) == _vocab_bytes(teacher.vocab)
    if not same_file or student.config.text.vocab_size != teacher.config.text.vocab_size:
        raise InputError(
            teacher.source,
            "the teacher's tokenizer vocabulary differs from the student's "
            f"({teacher.config.text.vocab_size} vs {student.config.text.vocab_size} "
            "tokens or different files); distillation feeds the same token ids "
            "to both, so they must share one",
            field="--teacher",
        )


def check_context_length(student: ClipNetwork, teacher: Weights) -> None:
    """The teacher reads the student's token ids, so its position table must hold the student's texts."""
    length, limit = student.config.context_length, teacher.config.text.max_positions
    if length > limit:
        raise InputError(
            teacher.source,
            f"the student reads {length} tokens per text but the teacher's position table has {limit} entries; "
            f"use --context-length {limit} or less",
            field="--context-length",
        )


def _vocab_bytes(path: Path | None) -> bytes:
    return Path(path or BUNDLED_VOCAB).read_bytes()


def frozen_network(weights: Weights) -> ClipNetwork:
    network = build_network(weights).eval()
    network.requires_grad_(False)
    return network


def teacher_scale(network: ClipNetwork) -> float:
    return network.logit_scale.detach().exp().clamp(max=100).item()


class OnlineTeacher:
    """Runs the teacher on each batch (pixels resized when its resolution differs from the student's)."""

    def __init__(self, network: ClipNetwork):
        self.network = network
        self.scale = teacher_scale(network)

    @property
    def embed_dim(self) -> int:
        return self.network.config.embed_dim

    def prepare(self, env: D.DistEnv) -> None:
        self.network.to(env.device)

    @torch.no_grad()
    def __call__(self, batch: dict) -> Features:
        pixels, size = batch["pixels"], self.network.config.vision.image_size
        if pixels.shape[-1] != size:
            pixels = F.interpolate(pixels, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
        return {
            "teacher_image": F.normalize(self.network.encode_image(pixels).float(), dim=-1),
            "teacher_text": F.normalize(self.network.encode_text(batch["ids"]).float(), dim=-1),
        }


class CachedTeacher:
    """Looks teacher embeddings up by image/text id in the cache beside the dataset (built on first use)."""

    def __init__(self, network: ClipNetwork, data: Path, split: str, tokenizer: Tokenizer, skip_bad: bool):
        self.network, self.data, self.split = network, Path(data), split
        self.tokenizer, self.skip_bad = tokenizer, skip_bad
        self.embed_dim = network.config.embed_dim
        self.scale = teacher_scale(network)
        self.path: Path | None = None

    def prepare(self, env: D.DistEnv) -> None:
        """If the cache is missing, every rank embeds its share and rank 0 writes it; every rank loads it;
        the teacher network is then released."""
        path = teacher_cache.cache_path(self.data, self.split, self.network, self.tokenizer.context_length)
        if D.broadcast_object(not path.is_file(), env):
            log.info("building teacher cache %s", path)
            dataset = teacher_cache.open_dataset(
                self.data, self.split, self.network.config.vision.image_size, self.tokenizer, self.skip_bad
            )
            shard = Shard(env.rank, env.world_size)
            teacher_cache.build_cache(self.network.to(env.device), dataset, self.tokenizer, path, env.device, shard)
        D.barrier(env)
        self.images, self.texts, self.scale = teacher_cache.load_cache(path, env.device)
        self.path, self.network = path, None
        log.info("teacher embeddings from cache %s", path)

    def __call__(self, batch: dict) -> Features:
        return {"teacher_image": self.images(batch["image_id"]), "teacher_text": self.texts(batch["text_id"])}


class DistillObjective(ContrastiveObjective):
    def __init__(
        self,
        network: ClipNetwork,
        teacher: OnlineTeacher | CachedTeacher,
        cfg: DistillConfig,
        multi_positive: bool = False,
    ):
        super().__init__(network, cfg.contrastive, multi_positive)
        self.teacher, self.cfg = teacher, cfg
        s_dim, t_dim = network.config.embed_dim, teacher.embed_dim
        project = s_dim != t_dim and (cfg.feature > 0 or cfg.interactive > 0)
        self.image_proj = nn.Linear(s_dim, t_dim, bias=False) if project else nn.Identity()
        self.text_proj = nn.Linear(s_dim, t_dim, bias=False) if project else nn.Identity()

    def prepare(self, env: D.DistEnv) -> None:
        self.teacher.prepare(env)

    def targets(self, batch: dict) -> Features:
        return {**super().targets(batch), **self.teacher(batch)}

    def forward(self, features: Features, targets: Features) -> dict[str, torch.Tensor]:
        image, text, scale = features["image"], features["text"], self.scale()
        t_image, t_text = targets["teacher_image"], targets["teacher_text"]
        cfg, losses = self.cfg, {}
        if cfg.contrastive:
            losses["contrastive"] = cfg.contrastive * clip_loss(image, text, scale, self.positives(targets))
        if cfg.kl:
            losses["kl"] = cfg.kl * similarity_kl(
                image, text, scale, t_image, t_text, self.teacher.scale, cfg.temperature
            )
        if cfg.feature or cfg.interactive:
            p_image, p_text = self.image_proj(image), self.text_proj(text)
        if cfg.feature:
            losses["feature_image"] = cfg.feature * feature_alignment(p_image, t_image, cfg.feature_loss)
            losses["feature_text"] = cfg.feature * feature_alignment(p_text, t_text, cfg.feature_loss)
        if cfg.interactive:
            losses["interactive"] = cfg.interactive * interactive_contrastive(
                F.normalize(p_image, dim=-1), F.normalize(p_text, dim=-1), t_image, t_text, scale
            )
        return losses
