"""Where a query's words lie in a line of text found in media: the characters the page marks.

Words are found as lines are matched (`search.text.normalize.key`: Simplified, half width, lower case, no
punctuation), so 我們 in a line is marked for the query 我们; their places in the key are mapped back to the
line's own characters.
"""

from __future__ import annotations

from ..search.text.normalize import key, key_positions


def marks(line: str, query: str) -> list[tuple[int, int]]:
    """(start, end) character ranges of `line` (end exclusive) holding a word of `query` (split at whitespace),
    in order, overlapping ones merged."""
    words = [w for w in map(key, query.split()) if w]
    if not words:
        return []
    line_key, positions = key_positions(line)
    found = sorted(
        (positions[at], positions[at + len(word) - 1] + 1) for word in words for at in _places(line_key, word)
    )
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _places(text: str, word: str) -> list[int]:
    """Where `word` starts in `text`, each occurrence."""
    places, at = [], text.find(word)
    while at >= 0:
        places.append(at)
        at = text.find(word, at + 1)
    return places
