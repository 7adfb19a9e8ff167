"""The int8 first pass of a large library's exact search (see `index`): rows quantised to int8 with one scale
per row, scored by PyTorch's int8 kernel with half the memory traffic of float16, each with a bound on its
error, so that only rows whose bound reaches the k-th best are rescored exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .index import CHUNK

# The kernel rounds the unit query to bfloat16 (|error| <= 2^-9 of the score's scale) and its output to
# bfloat16 (<= 2^-8 for scores up to 2); the float32 accumulation adds ~D * 2^-24. 2^-7 covers all three.
KERNEL_MARGIN = 2**-7


@dataclass
class Int8Rows:
    """Rows quantised to int8 with a per-row scale, and per row a bound on the score error that causes."""

    codes: torch.Tensor  # (N, D) int8
    scales: torch.Tensor  # (N,) bfloat16
    errors: torch.Tensor  # (N,) float32: |approximate score - exact score| <= errors[i] for any unit query

    @classmethod
    def build(cls, matrix: np.ndarray) -> Int8Rows | None:
        if not _int8_kernel_available():
            return None
        codes = torch.empty(matrix.shape, dtype=torch.int8)
        scales = torch.empty(len(matrix), dtype=torch.bfloat16)
        errors = torch.empty(len(matrix), dtype=torch.float32)
        for start in range(0, len(matrix), CHUNK):
            block = torch.from_numpy(matrix[start : start + CHUNK]).float()
            scale = (block.abs().amax(dim=1) / 127).clamp_min(1e-12).bfloat16().float()
            code = torch.round(block / scale[:, None]).clamp(-127, 127)
            # The residual's norm bounds the quantisation error of the row's score (Cauchy-Schwarz, |q| = 1).
            errors[start : start + CHUNK] = (block - code * scale[:, None]).norm(dim=1) + KERNEL_MARGIN
            codes[start : start + CHUNK] = code.to(torch.int8)
            scales[start : start + CHUNK] = scale.bfloat16()
        return cls(codes, scales, errors)

    def scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Approximate scores of `rows`, float32."""
        codes = torch.from_numpy(self.codes.numpy().take(rows, axis=0))  # numpy's take: ~10x torch's indexing
        return self._approximate(q, codes, self.scales[torch.from_numpy(rows)]).float().numpy()

    def candidates(self, q: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
        """Every row (ascending) whose exact score can reach the k-th best: the exact top-k is among them."""
        approx = self._approximate(q, self.codes, self.scales)
        if mask is not None:
            approx.masked_fill_(~torch.from_numpy(mask), -torch.inf)
        lower = approx - self.errors  # float32: bfloat16 sums would add their own rounding
        kth_lower = torch.topk(lower, min(k, len(lower))).values[-1]
        rows = torch.nonzero(approx + self.errors >= kth_lower).flatten().numpy()
        return rows if mask is None else rows[mask[rows]]  # with fewer than k allowed rows, kth_lower is -inf

    @staticmethod
    def _approximate(q: np.ndarray, codes: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """bfloat16 scores (converting them all to float32 would cost a quarter of the pass)."""
        query = torch.tensor(q, dtype=torch.bfloat16)[None]  # a copy: cached query vectors are read-only
        return torch.ops.aten._weight_int8pack_mm(query, codes, scales)[0]


def to_float32(block: np.ndarray) -> np.ndarray:
    """float16 rows as float32 (torch converts ~5x faster than numpy)."""
    return torch.from_numpy(block).float().numpy()


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
