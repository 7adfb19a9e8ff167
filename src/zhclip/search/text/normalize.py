"""How text is matched: one key and one sound for every line of every source and for every query.

`key`: NFKC (full-width letters and digits become half-width), Traditional -> Simplified (OpenCC `t2s`),
lower case, whitespace and punctuation dropped (OCR and speech split and join words freely; symbols such as
¥ or ℃ stay). `sound`: the key's toneless pinyin syllables, space-separated (runs of letters or digits stay
one token), for same-sound matching of speech (ASR errors in Chinese are mostly homophones).
"""

from __future__ import annotations

import unicodedata
from functools import cache

from pypinyin import Style, lazy_pinyin


@cache
def _converter():
    import opencc

    return opencc.OpenCC("t2s")


def key(text: str) -> str:
    """`text` as lines and queries are matched: see the module docstring."""
    return key_positions(text)[0]


def key_positions(text: str) -> tuple[str, list[int]]:
    """The key of `text`, and for each of its characters the position in `text` it came from (to point at the
    part of a line a query matched)."""
    kept: list[str] = []
    positions: list[int] = []
    for at, char in enumerate(text):
        for part in unicodedata.normalize("NFKC", char).lower():
            if _matters(part):
                kept.append(part)
                positions.append(at)
    simplified = _converter().convert("".join(kept))
    if len(simplified) != len(kept):  # a phrase became one of another length: positions spread over it
        step = len(kept) / len(simplified)
        positions = [positions[int(i * step)] for i in range(len(simplified))]
    return simplified, positions


def _matters(char: str) -> bool:
    return unicodedata.category(char)[0] not in "PZC"  # punctuation, separators, control characters


def sound(text: str) -> str:
    """The toneless pinyin syllables of `text`'s key, space-separated ('北京' -> 'bei jing')."""
    return _syllables(key(text))


def forms(text: str) -> tuple[str, str, str]:
    """What the text store keeps of a line to match it by: its key, the key's characters space-separated (one
    token each for the single-character index), and its sound."""
    line_key = key(text)
    return line_key, " ".join(line_key), _syllables(line_key)


def _syllables(line_key: str) -> str:
    return " ".join(lazy_pinyin(line_key, style=Style.NORMAL))


def span(text: str, start: int, end: int) -> tuple[int, int]:
    """Characters `start:end` of `text`'s key as positions of `text` (end exclusive); (0, 0) for none."""
    positions = key_positions(text)[1]
    if start >= end or end > len(positions):
        return (0, 0)
    return (positions[start], positions[end - 1] + 1)
