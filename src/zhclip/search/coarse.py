"""The int8 first pass of a large library's exact search (see `index`): rows quantised to int8 with one scale
per row, scored by PyTorch's int8 kernel with half the memory traffic of float16, and a bound on the error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .index import CHUNK

SHORTLIST = 1024


@dataclass
class Int8Rows:
    """Rows quantised to int8 with a per-row scale, and a bound on the score error that causes."""

    codes: torch.Tensor  # (N, D) int8
    scales: torch.Tensor  # (N,) bfloat16
    bound: float  # |approximate score - exact score| <= bound for any unit query

    @classmethod
    def build(cls, matrix: np.ndarray) -> Int8Rows | None:
        if not _int8_kernel_available():
            return None
        codes = torch.empty(matrix.shape, dtype=torch.int8)
        scales = torch.empty(len(matrix), dtype=torch.bfloat16)
        worst = 0.0
        for start in range(0, len(matrix), CHUNK):
            block = torch.from_numpy(matrix[start : start + CHUNK]).float()
            scale = (block.abs().amax(dim=1) / 127).clamp_min(1e-12).bfloat16().float()
            code = torch.round(block / scale[:, None]).clamp(-127, 127)
            residual = (block - code * scale[:, None]).norm(dim=1).max().item()
            codes[start : start + CHUNK] = code.to(torch.int8)
            scales[start : start + CHUNK] = scale.bfloat16()
            worst = max(worst, residual)
        # The residual bounds the quantisation error (Cauchy-Schwarz, |q| = 1). The kernel also rounds the
        # query and the output to bfloat16 (relative error 2^-8 each): add a margin for both.
        return cls(codes, scales, worst + 2**-6)

    def scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Approximate scores of `rows`, float32."""
        return self._approximate(torch.from_numpy(q), rows).float().numpy()

    def _approximate(self, q: torch.Tensor, rows: np.ndarray | None = None) -> torch.Tensor:
        """bfloat16 scores (converting a million of them to float32 costs as much as a third of the pass)."""
        codes, scales = self.codes, self.scales
        if rows is not None:
            codes = torch.from_numpy(codes.numpy().take(rows, axis=0))  # numpy's take: ~10x torch's indexing
            scales = scales[torch.from_numpy(rows)]
        return torch.ops.aten._weight_int8pack_mm(q.bfloat16()[None], codes, scales)[0]

    def candidates(self, q: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
        """Every row whose exact score can reach the k-th best: the exact top-k is among them."""
        approx = self._approximate(torch.from_numpy(q))
        if mask is not None:
            approx.masked_fill_(~torch.from_numpy(mask), -math.inf)
        # A top-SHORTLIST is much cheaper than comparing and gathering over every row; it holds all candidates
        # unless more than SHORTLIST rows lie within the error window.
        top = torch.topk(approx, min(max(k, SHORTLIST), len(approx)))
        values = top.values.float()
        threshold = values[min(k, len(values)) - 1].item() - 2 * self.bound
        if len(values) == len(approx) or values[-1].item() < threshold:
            rows = top.indices[values >= threshold].numpy()
        else:
            rows = torch.nonzero(approx.float() >= threshold).flatten().numpy()
        return rows if mask is None else rows[mask[rows]]  # with fewer than k allowed rows, threshold is -inf


def _int8_kernel_available() -> bool:
    try:
        torch.ops.aten._weight_int8pack_mm(
            torch.zeros(1, 32, dtype=torch.bfloat16),
            torch.zeros(8, 32, dtype=torch.int8),
            torch.ones(8, dtype=torch.bfloat16),
        )
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return True
