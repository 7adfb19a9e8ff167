"""OCR as a text source (see `search.sources`): files ranked by the words read in them (`search.text.source`:
one hit per image, one per run of sampled video frames showing the text)."""

from __future__ import annotations

from ..text.source import LineSource

SOURCE = LineSource(
    "ocr",
    "OCR text; read it with `zhclip index FOLDER --db LIBRARY --ocr` (needs pip install 'zhclip[ocr]')",
    setting="ocr",
    in_frames=True,
)
