"""Near-duplicate groups: files whose (mean) vectors are at least `threshold` cosine-similar."""

from __future__ import annotations

import numpy as np

from .store import FileRecord
from .stores import AnyReader
from .vector_index import VectorIndex

BLOCK = 2048


def find_dupes(reader: AnyReader, index: VectorIndex, threshold: float = 0.95) -> list[list[FileRecord]]:
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


def _content_vectors(index: VectorIndex) -> tuple[np.ndarray, np.ndarray]:
    """One normalised vector per content (videos: the mean of their frames)."""
    order = np.argsort(index.content_ids, kind="stable")
    content_ids, starts = np.unique(index.content_ids[order], return_index=True)
    if not len(order):
        return content_ids, np.zeros((0, index.dim), np.float32)
    sums = np.add.reduceat(index.matrix[order].astype(np.float32), starts, axis=0)
    return content_ids, sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def _close_pairs(vectors: np.ndarray, threshold: float):
    for start in range(0, len(vectors), BLOCK):
        sims = vectors[start : start + BLOCK] @ vectors.T
        rows, cols = np.nonzero(sims >= threshold)
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
