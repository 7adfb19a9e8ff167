"""OCR beside CLIP: read the Chinese text in photos and video frames, store it, find files by it.

`engine` (PP-OCRv6 through rapidocr, the `zhclip[ocr]` extra) -> `reading` (a step of the
indexing pipeline) -> `lines` (the library's OCR tables and their full-text lookup) -> `source` (OCR as a
text source of `search.sources`: files ranked by their text, video segments where it is on screen).
"""

from .engine import ENGINE_NAME, OcrEngine, OcrLine, OcrOptions

__all__ = ["ENGINE_NAME", "OcrEngine", "OcrLine", "OcrOptions"]
