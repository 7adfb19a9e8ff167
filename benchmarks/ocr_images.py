"""OCR test images: Chinese phrases rendered with Noto CJK onto photo-like backgrounds, text-free photos, and
a video with a burned-in caption. Everything is drawn from a seed; `manifest.json` says what is where.

Fonts: Debian `fonts-noto-cjk` (Noto Sans CJK and Noto Serif CJK, Regular and Bold, simplified-Chinese face).
Backgrounds: the synthetic scenes of `zhclip.data.synth`, smooth colour fields, value noise ("foliage"), and
crops of matplotlib's grace_hopper.jpg (a real photo).
Every phrase is readable by a person: plain text has at least MIN_CONTRAST (the WCAG contrast ratio) against
the background under READABLE_SHARE of its glyph pixels, else the next palette colour that does is used
(before this rule, black text could land on Grace Hopper's black cap); outlined text carries its own contrast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONTS = {
    "sans": ("NotoSansCJK-Regular.ttc", 2),  # face 2 of the collection: Noto Sans CJK SC
    "sans-bold": ("NotoSansCJK-Bold.ttc", 2),
    "serif": ("NotoSerifCJK-Regular.ttc", 2),
    "serif-bold": ("NotoSerifCJK-Bold.ttc", 2),
}
PHRASES = [
    "增值税普通发票",
    "登机牌",
    "会议纪要",
    "火车票",
    "电子客票行程单",
    "停车收费凭证",
    "超市购物小票",
    "欢迎光临",
    "禁止吸烟",
    "出口",
    "地铁站",
    "营业时间",
    "年度总结报告",
    "季度销售数据",
    "项目进度计划",
    "请勿靠近",
    "生日快乐",
    "新年快乐",
    "恭喜发财",
    "春节联欢晚会",
    "人民医院门诊部",
    "北京南站",
    "上海虹桥国际机场",
    "中国工商银行",
    "快递单号",
    "取件码",
    "身份证复印件",
    "房屋租赁合同",
    "毕业证书",
    "健康码",
    "核酸检测报告",
    "外卖订单",
    "星巴克咖啡",
    "图书馆借阅证",
    "学生证",
    "驾驶证",
    "电影票",
    "演唱会门票",
    "菜单价格表",
    "小心地滑",
]
SIZES = (16, 24, 32, 48, 72)  # glyph height in px
PALETTE = [
    ((20, 20, 20), None),
    ((255, 255, 255), (0, 0, 0)),
    ((200, 30, 30), None),
    ((30, 60, 200), None),
    ((250, 220, 40), (40, 40, 40)),
]  # (text colour, outline colour)
ROTATIONS = (0, 0, 3, -5, 8, -12, 180)
BACKGROUNDS = ("scene", "paper", "field", "noise", "photo")
SIZE = (1280, 720)
MIN_CONTRAST = 3.0  # WCAG's minimum for large text
READABLE_SHARE = 0.9  # of the glyph pixels, those that need MIN_CONTRAST against the background under them


@dataclass
class Sample:
    file: str
    phrase: str | None  # None for a text-free photo
    size: int | None = None
    font: str | None = None
    colour: str | None = None
    rotation: int | None = None
    background: str = ""
    recoloured: bool = False  # its drawn colour was too close to the background: the next readable one was used


def background(kind: str, rng: np.random.Generator, size: tuple[int, int] = SIZE) -> Image.Image:
    width, height = size
    if kind == "scene":
        from zhclip.data.synth import render_scene, sample_scene

        return render_scene(sample_scene(rng), (width, height), noise=4.0)
    if kind == "paper":
        base = rng.integers(225, 250)
        tint = np.array([base, base - rng.integers(0, 10), base - rng.integers(5, 25)], np.float32)
        return Image.fromarray(_grain(np.broadcast_to(tint, (height, width, 3)), rng, 3.0))
    if kind == "field":
        a, b = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
        ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
        return Image.fromarray(_grain(a * (1 - ramp) + b * ramp + np.zeros((height, 1, 1)), rng, 2.0))
    if kind == "noise":
        coarse = rng.random((height // 40 + 2, width // 40 + 2, 3)).astype(np.float32) * 255
        smooth = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize(size, Image.Resampling.BICUBIC), np.float32)
        return Image.fromarray(_grain(smooth * np.array([0.5, 0.9, 0.4]), rng, 12.0))
    photo = Image.open(_photo_path()).convert("RGB")
    photo = photo.crop((0, 0, photo.width, photo.height * 62 // 100))  # above her name badge: no text
    scale = max(width / photo.width, height / photo.height) * rng.uniform(1.0, 1.6)
    photo = photo.resize((int(photo.width * scale) + 1, int(photo.height * scale) + 1), Image.Resampling.BICUBIC)
    left, top = rng.integers(0, photo.width - width + 1), rng.integers(0, photo.height - height + 1)
    return photo.crop((left, top, left + width, top + height))


def _photo_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def _grain(pixels: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    return np.clip(pixels + rng.normal(0, std, pixels.shape), 0, 255).astype(np.uint8)


def draw_phrase(image: Image.Image, phrase: str, size: int, font: str, colour: int, rotation: int, rng) -> int:
    """Draw `phrase` with glyphs about `size` px tall, somewhere inside `image`, turned by `rotation` degrees, in
    PALETTE[colour] or, where that is too close to the background, the next colour readable there (returned)."""
    name, face = FONTS[font]
    typeface = ImageFont.truetype(str(FONT_DIR / name), int(size * 1.15), index=face)
    left, top, right, bottom = typeface.getbbox(phrase, stroke_width=2)
    mask = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(mask).text((4 - left, 4 - top), phrase, font=typeface, fill=255, stroke_width=2)
    mask = mask.rotate(rotation, expand=True, resample=Image.Resampling.BICUBIC)
    x = int(rng.integers(10, max(11, image.width - mask.width - 10)))
    y = int(rng.integers(10, max(11, image.height - mask.height - 10)))
    under = np.asarray(image.crop((x, y, x + mask.width, y + mask.height)).convert("RGB"), np.float32)
    colour = readable_colour(colour, under[np.asarray(mask) > 127])
    fill, outline = PALETTE[colour]
    stroke = 2 if outline else 0
    layer = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text(
        (4 - left, 4 - top), phrase, font=typeface, fill=fill, stroke_width=stroke, stroke_fill=outline
    )
    layer = layer.rotate(rotation, expand=True, resample=Image.Resampling.BICUBIC)
    image.paste(layer, (x, y), layer)
    return colour


def readable_colour(colour: int, behind: np.ndarray) -> int:
    """`colour`, or the first palette colour after it readable on the (N, 3) background pixels `behind`
    (outlined ones always are)."""
    background_luminance = _luminance(behind)
    for step in range(len(PALETTE)):
        candidate = (colour + step) % len(PALETTE)
        fill, outline = PALETTE[candidate]
        readable = np.mean(contrast(_luminance(np.asarray(fill)), background_luminance) >= MIN_CONTRAST)
        if outline is not None or readable >= READABLE_SHARE:
            return candidate
    return colour


def contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """WCAG contrast ratio (1 to 21) of relative luminances `a` and `b`."""
    return (np.maximum(a, b) + 0.05) / (np.minimum(a, b) + 0.05)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB colours (..., 3) in 0-255."""
    c = np.asarray(rgb, np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def make_ocr_set(folder: Path, seed: int = 0, per_size: int = 40, text_free: int = 40) -> list[Sample]:
    """`per_size` phrase images at each of SIZES and `text_free` photos without text, plus manifest.json."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    for size in SIZES:
        for i in range(per_size):
            phrase = PHRASES[(i + size) % len(PHRASES)]
            font, drawn = list(FONTS)[i % len(FONTS)], int(rng.integers(len(PALETTE)))
            rotation, kind = ROTATIONS[i % len(ROTATIONS)], BACKGROUNDS[i % len(BACKGROUNDS)]
            image = background(kind, rng)
            colour = draw_phrase(image, phrase, size, font, drawn, rotation, rng)
            name, fill = f"text_{size}px_{i:03d}.jpg", str(PALETTE[colour][0])
            sample = Sample(name, phrase, size, font, fill, rotation, kind, recoloured=colour != drawn)
            image.save(folder / sample.file, quality=90)
            samples.append(sample)
    for i in range(text_free):
        kind = BACKGROUNDS[i % len(BACKGROUNDS)]
        sample = Sample(f"plain_{i:03d}.jpg", None, background=kind)
        background(kind, rng).save(folder / sample.file, quality=90)
        samples.append(sample)
    (folder / "manifest.json").write_text(
        json.dumps([asdict(s) for s in samples], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return samples


def make_caption_video(
    path: Path,
    caption: str = "会议纪要",
    seconds: float = 12.0,
    fps: int = 10,
    shown: tuple[float, float] = (4.0, 8.0),
    seed: int = 0,
) -> Path:
    """An H.264 MP4 of a slowly panning scene with `caption` burned in while `shown[0] <= t < shown[1]`."""
    import av

    rng = np.random.default_rng(seed)
    width, height = 640, 360
    scene = background("scene", rng, (width + 200, height))
    with_caption = scene.copy()
    draw_phrase(with_caption, caption, 36, "sans-bold", 1, 0, np.random.default_rng(seed + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"g": str(fps)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for n in range(int(seconds * fps)):
            source = with_caption if shown[0] <= n / fps < shown[1] else scene
            frame = source.crop((n, 0, n + width, height))
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    return path


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-size", type=int, default=40)
    args = parser.parse_args()
    make_ocr_set(args.folder, args.seed, args.per_size)
    make_caption_video(args.folder / "caption.mp4")
