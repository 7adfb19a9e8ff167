"""Near-duplicate groups: files whose (mean) vectors are at least `threshold` cosine-similar."""

from __future__ import annotations

import numpy as np
import torch

from .index import VectorIndex
from .store import FileRecord, Reader

BLOCK = 2048


def find_dupes(reader: Reader, index: VectorIndex, threshold: float = 0.95) -> list[list[FileRecord]]:
    """Groups of two or more files, most similar content first; identical files always group together."""
    content_ids, vectors = _content_vectors(index)
    parent = np.arange(len(content_ids))
    for i, j in _close_pairs(vectors, threshold):
        _union(parent, i, j)
    roots = np.array([_find(parent, i) for i in range(len(parent))])
    files: dict[int, list[FileRecord]] = {}
    for record in reader.files_of(content_ids.tolist()):
        files.setdefault(record.content_id, []).append(record)
    groups: dict[int, list[FileRecord]] = {}
    for content_id, root in zip(content_ids.tolist(), roots.tolist(), strict=True):
        groups.setdefault(root, []).extend(files.get(content_id, []))
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0].path))


def _content_vectors(index: VectorIndex) -> tuple[np.ndarray, torch.Tensor]:
    """One normalised vector per content (videos: the mean of their frames)."""
    content_ids, inverse = np.unique(index.content_ids, return_inverse=True)
    sums = torch.zeros(len(content_ids), index.dim).index_add_(0, torch.from_numpy(inverse), index.matrix.float())
    return content_ids, torch.nn.functional.normalize(sums, dim=1)


def _close_pairs(vectors: torch.Tensor, threshold: float):
    for start in range(0, len(vectors), BLOCK):
        sims = vectors[start : start + BLOCK] @ vectors.T
        rows, cols = torch.nonzero(sims >= threshold, as_tuple=True)
        rows = rows + start
        keep = cols > rows
        yield from zip(rows[keep].tolist(), cols[keep].tolist(), strict=True)


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return int(i)


def _union(parent: np.ndarray, i: int, j: int) -> None:
    a, b = _find(parent, i), _find(parent, j)
    if a != b:
        parent[max(a, b)] = min(a, b)
