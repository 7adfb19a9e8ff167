"""Training test fixtures: a toy dataset in Chinese-CLIP layout and a dropout-free tiny init checkpoint."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from zhclip.models import arch_config, random_model, save_cnclip

COLORS = {
    "红色": (220, 30, 30),
    "绿色": (30, 180, 40),
    "蓝色": (30, 60, 220),
    "黄色": (230, 210, 20),
    "紫色": (140, 40, 180),
    "白色": (250, 250, 250),
    "黑色": (10, 10, 10),
    "橙色": (250, 140, 0),
}
SIDES = {"左边": 0, "右边": 1}


def _image(rgb: tuple[int, int, int], side: int, jitter: int) -> str:
    img = Image.new("RGB", (64, 64), (128, 128, 128))
    x = 4 + side * 32 + jitter
    ImageDraw.Draw(img).rectangle([x, 16 + jitter, x + 24, 40 + jitter], fill=rgb)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def write_toy_dataset(root: Path, splits: dict[str, int]) -> Path:
    """Each image: one coloured square on the left or right; captions name colour and side (16 classes)."""
    root.mkdir(parents=True, exist_ok=True)
    classes = [(c, s) for c in COLORS for s in SIDES]
    next_id = 0
    for split, count in splits.items():
        imgs, texts = [], []
        for i in range(count):
            color, side = classes[(i * 7 + len(split)) % len(classes)]
            image_id = 1000 + next_id
            imgs.append(f"{image_id}\t{_image(COLORS[color], SIDES[side], (i // len(classes)) % 4)}\n")
            texts.append({"text_id": image_id, "text": f"{side}有一个{color}的方块", "image_ids": [image_id]})
            next_id += 1
        (root / f"{split}_imgs.tsv").write_text("".join(imgs))
        (root / f"{split}_texts.jsonl").write_text(
            "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8"
        )
    return root


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), {"train": 64, "valid": 16})


@pytest.fixture(scope="session")
def no_dropout_init(tmp_path_factory) -> Path:
    """A tiny network without dropout, saved as .pt: runs with it are deterministic across batch layouts."""
    config = arch_config("tiny")
    config.text = replace(config.text, dropout=0.0)
    network = random_model(config, seed=7)
    path = tmp_path_factory.mktemp("init") / "tiny_nodrop.pt"
    save_cnclip(network.state_dict(), config, path)
    return path
