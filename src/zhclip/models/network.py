"""The Chinese-CLIP network: a ViT image tower and a BERT text tower.

Parameter names follow Chinese-CLIP's own `.pt` checkpoints (open_clip style `visual.*`, standard `bert.*`),
so those load without renaming; Hugging Face layouts are converted in `checkpoint.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import ClipConfig, TextConfig, VisionConfig


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, heads: int, dropout: float = 0.0
):
    """(B, Lq, heads*hd), (B, L, heads*hd) x2 -> (B, Lq, heads*hd) scaled dot-product attention; `dropout`
    drops attention probabilities (after the softmax, before the values), as BERT does."""
    b, length, inner = q.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(b, t.shape[1], heads, inner // heads).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask, dropout_p=dropout)
    return out.transpose(1, 2).reshape(b, length, inner)


class FusedSelfAttention(nn.Module):
    """Vision attention with q, k, v stacked in one `in_proj` (nn.MultiheadAttention's key names)."""

    def __init__(self, width: int, heads: int, head_dim: int):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * inner, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * inner))
        self.out_proj = nn.Linear(inner, width)
        self.separate = False  # q, k and v as three products (see `separate_projections`)

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """Attention of the first `queries` tokens (all by default) over every token."""
        if self.separate:
            parts = zip(self.in_proj_weight.chunk(3), self.in_proj_bias.chunk(3), strict=True)
            q, k, v = (F.linear(x, weight, bias) for weight, bias in parts)
        else:
            q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        return self.out_proj(attend(q[:, :queries], k, v, None, self.heads))


@contextmanager
def separate_projections(network: nn.Module) -> Iterator[None]:
    """Within the block, `network`'s vision attention computes q, k and v by three products instead of one
    product split in three: the same values, for a graph compiler to trace (OpenVINO's int8 image tower runs
    25 % faster without the split, which it runs by a reference kernel); eager PyTorch is as fast or faster fused."""
    modules = [m for m in network.modules() if isinstance(m, FusedSelfAttention)]
    for module in modules:
        module.separate = True
    try:
        yield
    finally:
        for module in modules:
            module.separate = False


class VisionBlock(nn.Module):
    def __init__(self, width: int, heads: int, head_dim: int, mlp_dim: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = FusedSelfAttention(width, heads, head_dim)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, mlp_dim))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(mlp_dim, width))

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """The block's output for the first `queries` tokens (all by default)."""
        x = x[:, :queries] + self.attn(self.ln_1(x), queries)
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    def __init__(self, cfg: VisionConfig, embed_dim: int):
        super().__init__()
        w = cfg.width
        self.conv1 = nn.Conv2d(3, w, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.grid**2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(
            VisionBlock(w, cfg.heads(i), cfg.head_width, cfg.mlp_dim(i)) for i in range(cfg.layers)
        )
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.zeros(w, embed_dim))
        self.grad_checkpointing = False
        self.patch_dropout = 0.0  # FLIP: share of patches dropped in training mode (a run setting, not saved)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        if self.training and self.patch_dropout > 0:
            x = _drop_patches(x, self.patch_dropout)
        x = self.ln_pre(x)
        last = len(self.transformer.resblocks) - 1
        for i, block in enumerate(self.transformer.resblocks):
            queries = 1 if i == last else None  # the last block computes the class token, the one output used
            x = checkpoint(block, x, queries, use_reentrant=False) if self._checkpointing() else block(x, queries)
        return self.ln_post(x[:, 0]) @ self.proj

    def _checkpointing(self) -> bool:
        return self.grad_checkpointing and torch.is_grad_enabled()


def _drop_patches(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Keep the class token and a random int((L-1) * (1-rate)) patches of each image, in random order
    (after the positional embedding, before ln_pre), as Chinese-CLIP's FLIP masking does."""
    b, length, width = x.shape
    keep = int((length - 1) * (1 - rate))
    order = torch.argsort(torch.rand(b, length - 1, device=x.device), dim=1)[:, :keep] + 1
    kept = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, width))
    return torch.cat([x[:, :1], kept], dim=1)


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=1e-12)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class _DenseNorm(nn.Module):
    """BERT's `output` sub-block: dense, dropout, residual add, LayerNorm."""

    def __init__(self, d_in: int, d_out: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int, dropout: float):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(hidden, inner)
        self.key = nn.Linear(hidden, inner)
        self.value = nn.Linear(hidden, inner)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        dropout = self.dropout if self.training else 0.0
        return attend(self.query(x[:, :queries]), self.key(x), self.value(x), mask, self.heads, dropout)


class BertLayer(nn.Module):
    def __init__(self, cfg: TextConfig, layer: int):
        super().__init__()
        h, p = cfg.hidden_size, cfg.dropout
        inner = cfg.heads_at(layer) * cfg.head_dim
        self.attention = nn.Module()
        self.attention.self = BertSelfAttention(h, cfg.heads_at(layer), cfg.head_dim, p)
        self.attention.output = _DenseNorm(inner, h, p)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(h, cfg.mlp_dim(layer))
        self.output = _DenseNorm(cfg.mlp_dim(layer), h, p)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """The layer's output for the first `queries` tokens (all by default)."""
        x = self.attention.output(self.attention.self(x, mask, queries), x[:, :queries])
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class BertEncoder(nn.Module):
    """BERT as Chinese-CLIP uses it: the last layer's [CLS] state, no pooler."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(BertLayer(cfg, i) for i in range(cfg.layers))
        self.grad_checkpointing = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, hidden): the [CLS] row of the last layer, which in evaluation computes that row only (most of a
        layer's work saved, same result); training computes every row, so that dropout draws the random
        numbers Chinese-CLIP's own code does."""
        mask = (ids != 0)[:, None, None, :]
        x = self.embeddings(ids)
        last = len(self.encoder.layer) - 1
        for i, layer in enumerate(self.encoder.layer):
            queries = 1 if i == last and not self.training else None
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(layer, x, mask, queries, use_reentrant=False)
            else:
                x = layer(x, mask, queries)
        return x[:, 0]


class ClipNetwork(nn.Module):
    def __init__(self, config: ClipConfig):
        super().__init__()
        self.config = config
        self.visual = VisionTransformer(config.vision, config.embed_dim)
        self.bert = BertEncoder(config.text)
        self.text_projection = nn.Parameter(torch.zeros(config.text.hidden_size, config.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Unnormalised image embeddings (CLS after ln_post, times the visual projection)."""
        return self.visual(pixels.to(self.dtype))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        """Unnormalised text embeddings ([CLS] of the last BERT layer, times the text projection)."""
        return self.bert(ids) @ self.text_projection

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor):
        image = F.normalize(self.encode_image(pixels), dim=-1)
        text = F.normalize(self.encode_text(ids), dim=-1)
        return image, text, self.logit_scale.exp()

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        self.visual.grad_checkpointing = enabled
        self.bert.grad_checkpointing = enabled

    def set_patch_dropout(self, rate: float) -> None:
        """Drop this share of image patches in training mode (FLIP); evaluation always sees every patch."""
        self.visual.patch_dropout = rate

    def init_weights(self) -> None:
        """Random initialisation as Chinese-CLIP does it (for training from scratch and for tests)."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, FusedSelfAttention):
                nn.init.xavier_uniform_(module.in_proj_weight)
                nn.init.zeros_(module.in_proj_bias)
        v = self.visual
        scale = v.class_embedding.shape[0] ** -0.5
        nn.init.kaiming_uniform_(v.conv1.weight, a=math.sqrt(5))
        for p in (v.class_embedding, v.positional_embedding, v.proj):
            nn.init.normal_(p, std=scale)
        nn.init.normal_(self.text_projection, std=self.config.text.hidden_size**-0.5)
        with torch.no_grad():
            self.logit_scale.fill_(math.log(1 / 0.07))
