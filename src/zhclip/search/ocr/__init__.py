"""OCR beside CLIP: read the Chinese text in photos and video frames, store it, find files by it.

`engine` (PP-OCRv4 through rapidocr-onnxruntime, the `zhclip[ocr]` extra) -> `reading` (a step of the
indexing pipeline) -> `lines` (the library's OCR tables and their full-text lookup) -> `matching`
(`--match ocr|hybrid`: text ranking, video segments, fusion with CLIP ranking).
"""

from .engine import ENGINE_NAME, OcrEngine, OcrLine, OcrOptions

__all__ = ["ENGINE_NAME", "OcrEngine", "OcrLine", "OcrOptions"]
