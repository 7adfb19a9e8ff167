"""Hand-made datasets in the Chinese-CLIP layout, for tests."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image


def png_b64(color: tuple[int, int, int], size: int = 8) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_split(
    root: Path,
    split: str,
    images: dict[int, tuple[int, int, int]],
    texts: list[dict],
    extra_tsv_lines: list[str] = (),
    extra_jsonl_lines: list[str] = (),
) -> Path:
    """`{split}_imgs.tsv` with one solid-colour PNG per image id, and `{split}_texts.jsonl`."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [f"{image_id}\t{png_b64(color)}" for image_id, color in images.items()] + list(extra_tsv_lines)
    (root / f"{split}_imgs.tsv").write_text("".join(line + "\n" for line in lines))
    rows = [json.dumps(t, ensure_ascii=False) for t in texts] + list(extra_jsonl_lines)
    (root / f"{split}_texts.jsonl").write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return root
