"""The int8 first pass of a large library's exact search (see `vector_index`): rows quantised to int8 with one scale
per row and scored by PyTorch's dynamic int8 linear kernel (fbgemm on x86: the query rounded to 8 bits on the
fly, exact int32 sums; 2.0 ms for 100k x 512 rows where the bfloat16 x int8 kernel takes 4.9), each score with
a bound on its error, so that only rows whose bound reaches the k-th best are rescored exactly."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

QUANTISE_BLOCK = 65_536  # rows quantised at once (each block a float32 copy on the way)

# The kernel rounds the query to `levels` steps over [min(q, 0), max(q, 0)], each element off by at most half
# a step; STEP_SLACK covers float rounding of the step, OUTPUT_MARGIN the float32 scaling of the int32 sums.
STEP_SLACK = 1.001
OUTPUT_MARGIN = 1e-5
MAXIMA_BLOCK = 64  # rows per block maximum in `_kth_at_most`


@dataclass
class Int8Rows:
    """Rows quantised to int8 with a per-row scale, packed for the kernel, and what bounds each score's error."""

    packed: object  # the kernel's prepacked int8 rows (quantized::linear_prepack)
    levels: int  # the kernel's query steps: 255, or 127 where its 8-bit products would overflow 16-bit sums
    residuals: torch.Tensor  # (N,) float32: |row - its int8 copy|, the rows' own error for a unit query
    l1: torch.Tensor  # (N,) float32: L1 norm of the int8 copy (times half a query step: the query's error)
    codes: torch.Tensor | None = None  # (N, D) int8, kept for scoring subsets of rows (inverted lists)
    scales: torch.Tensor | None = None  # (N,) bfloat16, likewise

    @classmethod
    def build(cls, matrix: np.ndarray, subsets: bool = False) -> Int8Rows | None:
        """None where PyTorch has no exact dynamic int8 kernel (the search is then exact over float16 rows);
        `subsets`: keep the codes for `scores` as well (another N x D bytes)."""
        levels = _exact_levels(matrix.shape[1])
        if levels is None:
            return None
        codes = torch.empty(matrix.shape, dtype=torch.int8)
        scales = torch.empty(len(matrix), dtype=torch.float32)
        residuals = torch.empty(len(matrix), dtype=torch.float32)
        l1 = torch.empty(len(matrix), dtype=torch.float32)
        for start in range(0, len(matrix), QUANTISE_BLOCK):
            block = torch.from_numpy(matrix[start : start + QUANTISE_BLOCK]).float()
            # bfloat16-exact scales: the subset kernel takes them in bfloat16, and both then see the same copy
            scale = (block.abs().amax(dim=1) / 127).clamp_min(1e-12).bfloat16().float()
            code = torch.round(block / scale[:, None]).clamp(-127, 127)
            copy = code * scale[:, None]
            residuals[start : start + QUANTISE_BLOCK] = (block - copy).norm(dim=1)
            l1[start : start + QUANTISE_BLOCK] = copy.abs().sum(dim=1)
            codes[start : start + QUANTISE_BLOCK] = code.to(torch.int8)
            scales[start : start + QUANTISE_BLOCK] = scale
        packed = _pack(codes, scales)
        kept = (codes, scales.bfloat16()) if subsets else (None, None)
        return cls(packed, levels, residuals, l1, *kept)

    def approximate(self, q: np.ndarray) -> torch.Tensor:
        """Every row's approximate score, float32."""
        return _linear(np.ascontiguousarray(q, np.float32), self.packed, self.levels)

    def errors(self, q: np.ndarray, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Per row (of `rows`, all when None), a bound on |approximate - exact score| for the unit query q
        (Cauchy-Schwarz for the row's rounding, half a query step times the row's L1 norm for the query's)."""
        half_step = torch.tensor(self._step(q) / 2)
        if rows is None:
            return torch.addcmul(self.residuals + OUTPUT_MARGIN, self.l1, half_step)
        return torch.addcmul(self.residuals[rows] + OUTPUT_MARGIN, self.l1[rows], half_step)

    def candidates(self, approx: torch.Tensor, q: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
        """Every row (ascending) whose exact score can reach the k-th best: the exact top-k is among them
        (`approx`: `approximate(q)`, left as it is). Only rows within twice the widest error of the k-th
        approximate score can qualify (a bound below that score serves as well), so the per-row bounds are
        computed for those alone."""
        if mask is not None:
            approx = approx.masked_fill(~torch.from_numpy(mask), -torch.inf)
        k = min(k, len(approx))
        widest = self._widest_rows + self._widest_l1 * self._step(q) / 2
        threshold = float(_kth_at_most(approx, k)) - 2.01 * widest  # 0.01: slack for float rounding
        near = np.flatnonzero(approx.numpy() >= threshold)  # numpy: 4x torch's nonzero
        near_approx, errors = approx[near], self.errors(q, torch.from_numpy(near))
        kth_lower = torch.topk(near_approx - errors, k).values[-1]
        rows = near[(near_approx + errors >= kth_lower).numpy()]
        return rows if mask is None else rows[mask[rows]]  # with fewer than k allowed rows, kth_lower is -inf

    @cached_property
    def _widest_rows(self) -> float:
        """The largest error any row's own rounding contributes."""
        return float(self.residuals.max()) + OUTPUT_MARGIN

    @cached_property
    def _widest_l1(self) -> float:
        return float(self.l1.max())

    def _step(self, q: np.ndarray) -> float:
        """The kernel's query step (with slack for its float rounding)."""
        return (max(float(q.max()), 0.0) - min(float(q.min()), 0.0)) / self.levels * STEP_SLACK

    def scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Approximate scores of `rows` (built with `subsets`), float32, by the bfloat16 x int8 kernel (the
        packed rows cannot be sliced)."""
        codes = torch.from_numpy(self.codes.numpy().take(rows, axis=0))  # numpy's take: ~10x torch's indexing
        query = torch.tensor(q, dtype=torch.bfloat16)[None]  # a copy: cached query vectors are read-only
        scales = self.scales[torch.from_numpy(rows)]
        return torch.ops.aten._weight_int8pack_mm(query, codes, scales)[0].float().numpy()


def _kth_at_most(values: torch.Tensor, k: int) -> torch.Tensor:
    """A value no greater than the k-th largest of `values`: the k-th largest of their block maxima (k of
    the values), 4x cheaper than the k-th itself on 100k rows."""
    whole = len(values) // MAXIMA_BLOCK * MAXIMA_BLOCK
    maxima = torch.cat([values[:whole].view(-1, MAXIMA_BLOCK).amax(dim=1), values[whole:]])
    return torch.topk(maxima if len(maxima) >= k else values, k).values[-1]


def to_float32(block: np.ndarray) -> np.ndarray:
    """float16 rows as float32 (torch converts ~5x faster than numpy)."""
    return torch.from_numpy(block).float().numpy()


def _pack(codes: torch.Tensor, scales: torch.Tensor) -> object:
    zero_points = torch.zeros(len(codes), dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated for torchao, and still work
        weights = torch._make_per_channel_quantized_tensor(codes, scales.double(), zero_points, 0)
        return torch.ops.quantized.linear_prepack(weights, None)


def _linear(q: np.ndarray, packed: object, levels: int) -> torch.Tensor:
    return torch.ops.quantized.linear_dynamic(torch.from_numpy(q)[None], packed, levels == 127)[0]


def _exact_levels(dim: int) -> int | None:
    """255 query steps where the kernel sums int8 products exactly (VNNI, ARM); 127 where two products of
    full-range codes overflow its 16-bit pair sums (x86 before VNNI: PyTorch's `reduce_range`); None when
    neither gives exact results or there is no kernel."""
    for levels in (255, 127):
        if _kernel_is_exact(dim, levels):
            return levels
    return None


def _kernel_is_exact(dim: int, levels: int) -> bool:
    """The worst case for the sums, every query element at the top code against weights of +-127, and a random
    query against random codes (checked against the bound `errors` uses)."""
    rng = np.random.default_rng(0)
    random_codes = rng.integers(-127, 128, (6, dim))
    codes = torch.from_numpy(np.concatenate([np.full((1, dim), 127), np.full((1, dim), -127), random_codes]))
    codes = codes.to(torch.int8)
    scales = torch.full((len(codes),), 1 / 127 / dim**0.5)
    top = np.ones(dim, np.float32) / dim**0.5
    noise = rng.standard_normal(dim).astype(np.float32)
    try:
        packed = _pack(codes, scales)
        for q in (top, noise / np.linalg.norm(noise)):
            found = _linear(q, packed, levels)
            copy = codes.double() * scales.double()[:, None]
            step = (max(q.max(), 0) - min(q.min(), 0)) / levels
            bound = copy.abs().sum(dim=1) * step / 2 + OUTPUT_MARGIN
            if ((found.double() - copy @ torch.from_numpy(q).double()).abs() > bound).any():
                return False
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return True
