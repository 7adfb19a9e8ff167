"""Teacher embeddings computed once per (dataset split, teacher) and stored beside the dataset.

`DATASET/teacher_cache/<split>-<dataset hash>-<teacher hash>-ctx<N>.pt` holds L2-normalised fp16 embeddings of
every image id and text id of the split, plus the teacher's logit scale. The dataset hash covers the split's
files, the teacher hash its weights and architecture, N the tokens per text, so a changed dataset, teacher or
context length gets a new file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ..errors import InputError
from ..evaluate.features import Shard
from ..models.network import ClipNetwork
from ..models.tokenizer import Tokenizer
from ..models.transform import ImageTransform

log = logging.getLogger("zhclip.train")

CACHE_DIR = "teacher_cache"


def dataset_hash(data: Path, split: str) -> str:
    """SHA-256 of the split's files (tsv/jsonl, or the LMDB data files when there are none)."""
    files = sorted(Path(data).glob(f"{split}_*"))
    if not files:
        files = sorted((Path(data) / "lmdb" / split).glob("*/data.mdb"))
    if not files:
        raise InputError(data, f"no files for split {split!r}", field="--data")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def teacher_hash(network: ClipNetwork) -> str:
    digest = hashlib.sha256(json.dumps(network.config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_path(data: Path, split: str, network: ClipNetwork, context_length: int) -> Path:
    name = f"{split}-{dataset_hash(data, split)[:16]}-{teacher_hash(network)[:16]}-ctx{context_length}.pt"
    return Path(data) / CACHE_DIR / name


@torch.no_grad()
def build_cache(
    network: ClipNetwork,
    dataset,
    tokenizer: Tokenizer,
    out: Path,
    device: torch.device,
    shard: Shard | None = None,
    batch_size: int = 64,
) -> Path:
    """Embed each distinct image and text of `dataset` (a PairDataset opened at the teacher's resolution).
    Under `shard` each rank embeds its share of the batches and rank 0 writes the file."""
    from ..data.dataset import normalize_text

    network.eval()
    shard = shard or Shard()
    first_image: dict[int, int] = {}
    texts: dict[int, str] = {}
    for index in range(len(dataset.pairs)):
        image_id, text_id, text = dataset.pairs[index]
        first_image.setdefault(image_id, index)
        texts.setdefault(text_id, text)
    image_rows = shard.part(list(first_image.values()), batch_size)
    text_ids = shard.part(list(texts), batch_size)

    def embed() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image_ids, image_feats = [torch.zeros(0, dtype=torch.long)], []
        for batch in DataLoader(Subset(dataset, image_rows), batch_size=batch_size):
            image_ids.append(batch["image_id"])
            image_feats.append(network.encode_image(batch["pixels"].to(device)))
        text_feats = [
            network.encode_text(tokenizer([normalize_text(texts[t]) for t in text_ids[i : i + batch_size]]).to(device))
            for i in range(0, len(text_ids), batch_size)
        ]
        return torch.cat(image_ids), _normalised(image_feats), _normalised(text_feats)

    parts = shard.gather(embed)
    payload = {
        "image_ids": torch.cat([ids for ids, _, _ in parts]),
        "image": torch.cat([feats for _, feats, _ in parts if feats.numel()]),
        "text_ids": torch.tensor(list(texts), dtype=torch.long),
        "text": torch.cat([feats for _, _, feats in parts if feats.numel()]),
        "scale": network.logit_scale.detach().exp().clamp(max=100).item(),
    }
    shard.on_main(lambda: _write(payload, out))
    return out


def _write(payload: dict, out: Path) -> None:
    from ..io import atomic_path

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    log.info("teacher cache: %d images, %d texts -> %s", len(payload["image_ids"]), len(payload["text_ids"]), out)


def _normalised(parts: list[torch.Tensor]) -> torch.Tensor:
    if not parts:  # a rank whose share is empty
        return torch.zeros(0, dtype=torch.half)
    return F.normalize(torch.cat(parts).float(), dim=-1).half().cpu()


def open_dataset(data: Path, split: str, image_size: int, tokenizer: Tokenizer, skip_bad: bool):
    from ..data.dataset import PairDataset

    return PairDataset(data, split, ImageTransform(image_size), tokenizer, skip_bad=skip_bad)


class EmbeddingTable:
    """id -> embedding row lookup for a batch of ids (sorted ids + searchsorted)."""

    def __init__(self, ids: torch.Tensor, embeddings: torch.Tensor, what: str, source: Path):
        order = torch.argsort(ids)
        self.ids, self.embeddings = ids[order], embeddings[order]
        self.what, self.source = what, source

    def to(self, device: torch.device) -> EmbeddingTable:
        self.ids, self.embeddings = self.ids.to(device), self.embeddings.to(device)
        return self

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.searchsorted(self.ids, ids).clamp(max=len(self.ids) - 1)
        found = self.ids[pos] == ids
        if not bool(found.all()):
            missing = ids[~found][0].item()
            raise InputError(
                self.source,
                f"{self.what} id {missing} is not in the teacher cache; delete the cache file to rebuild it",
            )
        return self.embeddings[pos].float()


def load_cache(path: Path, device: torch.device) -> tuple[EmbeddingTable, EmbeddingTable, float]:
    from ..models.checkpoint import read_checkpoint_file

    raw = read_checkpoint_file(path)
    try:
        images = EmbeddingTable(raw["image_ids"], raw["image"], "image", path).to(device)
        texts = EmbeddingTable(raw["text_ids"], raw["text"], "text", path).to(device)
        return images, texts, float(raw["scale"])
    except (KeyError, TypeError) as exc:
        raise InputError(path, f"not a teacher cache ({exc}); delete it to rebuild") from None
