"""BERT-Chinese WordPiece tokenisation exactly as Chinese-CLIP does it: [CLS] + up to 50 ids + [SEP], zero-padded."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import BertWordPieceTokenizer

from ..errors import InputError
from .config import CONTEXT_LENGTH

if TYPE_CHECKING:
    import torch

BUNDLED_VOCAB = resources.files("zhclip.models") / "vocab.txt"


@lru_cache(maxsize=4)
def _wordpiece(vocab_path: str) -> BertWordPieceTokenizer:
    tok = BertWordPieceTokenizer(vocab_path, lowercase=True, handle_chinese_chars=True, clean_text=True)
    tok.no_truncation()
    tok.no_padding()
    return tok


class Tokenizer:
    def __init__(self, vocab_path: str | Path | None = None, context_length: int = CONTEXT_LENGTH):
        self.vocab_path = str(vocab_path or BUNDLED_VOCAB)
        if not Path(self.vocab_path).is_file():
            raise InputError(self.vocab_path, "vocabulary file not found")
        self._tok = _wordpiece(self.vocab_path)
        self.context_length = context_length
        self.cls_id = self._tok.token_to_id("[CLS]")
        self.sep_id = self._tok.token_to_id("[SEP]")
        if self._tok.token_to_id("[PAD]") != 0 or self.cls_id is None or self.sep_id is None:
            raise InputError(self.vocab_path, "not a BERT vocabulary ([PAD] must be id 0, with [CLS] and [SEP])")

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def tokens(self, text: str) -> list[str]:
        return self._tok.encode(text, add_special_tokens=False).tokens

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        """Token ids as a torch tensor, shape (len(texts), context_length); long texts are truncated."""
        import torch

        return torch.from_numpy(self.ids(texts, context_length))

    def ids(self, texts: str | list[str], context_length: int | None = None) -> np.ndarray:
        """Token ids as int64 numpy, shape (len(texts), context_length); long texts are truncated."""
        if isinstance(texts, str):
            texts = [texts]
        length = context_length or self.context_length
        if length < 3:
            raise InputError(None, f"context length must be at least 3, got {length}")
        out = np.zeros((len(texts), length), dtype=np.int64)
        for row, enc in enumerate(self._tok.encode_batch(list(texts), add_special_tokens=False)):
            ids = [self.cls_id, *enc.ids[: length - 2], self.sep_id]
            out[row, : len(ids)] = ids
        return out
