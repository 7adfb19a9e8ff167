"""Draw a `Scene` at any size: background texture, clutter, shapes, optional pixel noise."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .scene import BACKGROUNDS, COLORS, SIZES, Scene, SceneObject

OUTLINE_WIDTH = 0.28  # outline stroke, fraction of the object radius
TEXTURE_CONTRAST = 0.13  # how much darker the second tone of a texture is


def render_scene(
    scene: Scene, size: tuple[int, int] = (96, 96), noise: float = 0.0, supersample: int | None = None
) -> Image.Image:
    """The scene as an RGB image of `size` (width, height). Small images are drawn at 2x and downsampled
    (anti-aliasing); `noise` is the std of Gaussian pixel noise (0-255 scale)."""
    width, height = size
    if width < 8 or height < 8:
        raise ValueError(f"image size must be at least 8x8, got {width}x{height}")
    factor = supersample or (2 if max(width, height) <= 512 else 1)
    rng = np.random.default_rng(scene.detail_seed)
    canvas = _background(scene, width * factor, height * factor, rng)
    draw = ImageDraw.Draw(canvas)
    _draw_distractors(draw, scene, canvas.size, rng)
    for obj in scene.objects:
        _draw_object(draw, obj, canvas.size)
    image = canvas.resize(size, Image.Resampling.LANCZOS) if factor > 1 else canvas
    return _add_noise(image, noise, rng) if noise > 0 else image


def _background(scene: Scene, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    base = np.array(BACKGROUNDS[scene.background], dtype=np.float32)
    angle = rng.choice([0.0, math.pi / 2, math.pi / 4, -math.pi / 4])
    period = rng.uniform(0.08, 0.14)
    if scene.texture == "plain":
        return Image.new("RGB", (width, height), tuple(int(c) for c in base))
    dark = base * (1 - TEXTURE_CONTRAST) if base.mean() > 128 else base * (1 + TEXTURE_CONTRAST) + 12
    ys, xs = np.ogrid[0:height, 0:width]
    xs, ys = xs.astype(np.float32) / min(width, height), ys.astype(np.float32) / min(width, height)
    along = xs * math.cos(angle) + ys * math.sin(angle)
    if scene.texture == "stripes":
        mix = np.floor(along / period) % 2
    elif scene.texture == "checker":
        mix = (np.floor(xs / period) + np.floor(ys / period)) % 2
    else:  # gradient, at twice the contrast
        mix = 2 * (along - along.min()) / max(float(np.ptp(along)), 1e-6)
    pixels = base + (dark - base) * mix[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _draw_distractors(draw: ImageDraw.ImageDraw, scene: Scene, size: tuple[int, int], rng: np.random.Generator) -> None:
    """Thin grey strokes: clutter that no caption mentions."""
    width, height = size
    unit = min(width, height)
    for _ in range(scene.distractors):
        x, y = rng.uniform(0.05, 0.95) * width, rng.uniform(0.05, 0.95) * height
        length, angle = rng.uniform(0.04, 0.09) * unit, rng.uniform(0, math.pi)
        tone = int(rng.integers(90, 170))
        end = (x + length * math.cos(angle), y + length * math.sin(angle))
        draw.line([(x, y), end], fill=(tone, tone, tone), width=max(1, round(unit * 0.012)))


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, size: tuple[int, int]) -> None:
    width, height = size
    radius = SIZES[obj.size] * min(width, height)
    center = (obj.x * width, obj.y * height)
    color = obj.rgb or COLORS[obj.color]
    stroke = max(1, round(radius * OUTLINE_WIDTH))
    if obj.shape == "circle":
        box = [center[0] - radius, center[1] - radius, center[0] + radius, center[1] + radius]
        if obj.fill == "outline":
            draw.ellipse(box, outline=color, width=stroke)
        else:
            draw.ellipse(box, fill=color)
        return
    points = shape_points(obj.shape, center, radius, obj.angle)
    if obj.fill == "outline":
        draw.line([*points, points[0], points[1]], fill=color, width=stroke, joint="curve")
    else:
        draw.polygon(points, fill=color)


def shape_points(shape: str, center: tuple[float, float], radius: float, angle: float) -> list[tuple[float, float]]:
    """Polygon vertices of a shape inscribed in a circle of `radius`, rotated by `angle` degrees."""
    unit = _UNIT_SHAPES[shape]
    rad = math.radians(angle)
    cos, sin = math.cos(rad), math.sin(rad)
    return [(center[0] + radius * (x * cos - y * sin), center[1] + radius * (x * sin + y * cos)) for x, y in unit]


def _regular(sides: int, start_degrees: float, radii: tuple[float, ...] = (1.0,)) -> list[tuple[float, float]]:
    count = sides * len(radii)
    return [
        (
            radii[k % len(radii)] * math.cos(math.radians(start_degrees + 360 * k / count)),
            radii[k % len(radii)] * math.sin(math.radians(start_degrees + 360 * k / count)),
        )
        for k in range(count)
    ]


_ARM = 0.32
_UNIT_SHAPES: dict[str, list[tuple[float, float]]] = {
    "square": [(-0.78, -0.78), (0.78, -0.78), (0.78, 0.78), (-0.78, 0.78)],
    "triangle": [(x, y + 0.15) for x, y in _regular(3, -90)],
    "star": _regular(5, -90, (1.0, 0.42)),
    "diamond": [(0, -1), (0.62, 0), (0, 1), (-0.62, 0)],
    "cross": [
        (-_ARM, -1),
        (_ARM, -1),
        (_ARM, -_ARM),
        (1, -_ARM),
        (1, _ARM),
        (_ARM, _ARM),
        (_ARM, 1),
        (-_ARM, 1),
        (-_ARM, _ARM),
        (-1, _ARM),
        (-1, -_ARM),
        (-_ARM, -_ARM),
    ],
    "hexagon": _regular(6, 0),
}


def _add_noise(image: Image.Image, noise: float, rng: np.random.Generator) -> Image.Image:
    jitter = rng.standard_normal(size=(image.height, image.width, 3), dtype=np.float32) * noise
    pixels = np.asarray(image, dtype=np.float32) + jitter
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
