"""Scenes of the synthetic benchmark: one to three coloured shapes on a (textured) background.

A `Scene` fully determines its image (`render.render_scene`), so captions can be checked against it.
Positions are fractions of the image width/height, so a scene renders at any size and aspect ratio,
and objects can be moved (`Scene.moved`, `motion_frames`) to make video frames."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 15),
    "yellow": (240, 205, 20),
    "green": (35, 160, 55),
    "cyan": (20, 185, 200),
    "blue": (35, 75, 215),
    "purple": (135, 55, 185),
    "pink": (245, 125, 180),
    "brown": (125, 75, 35),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross", "hexagon")
SIZES: dict[str, float] = {"small": 0.075, "medium": 0.11, "large": 0.145}  # radius / min(width, height)
FILLS = ("solid", "outline")
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "light_grey": (200, 200, 200),
    "beige": (235, 222, 190),
    "dark_grey": (68, 68, 74),
}
TEXTURES = ("plain", "stripes", "checker", "gradient")
LOW_CONTRAST = {"dark_grey": {"black", "brown"}}  # object colours never drawn on this background

GRID = 3  # objects are placed in distinct cells of a GRID x GRID layout, so relations are unambiguous


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: str
    fill: str
    x: float  # centre, fraction of the width (0 = left)
    y: float  # centre, fraction of the height (0 = top)
    angle: float = 0.0  # degrees; small, so a square never turns into a diamond
    rgb: tuple[int, int, int] | None = None  # the jittered colour actually drawn (default: the palette colour)

    @property
    def column(self) -> int:
        return min(int(self.x * GRID), GRID - 1)

    @property
    def row(self) -> int:
        return min(int(self.y * GRID), GRID - 1)


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: str = "white"
    texture: str = "plain"
    distractors: int = 0  # small unmentioned marks (clutter)
    detail_seed: int = 0  # texture phase, clutter and pixel noise

    def moved(self, offsets: Sequence[tuple[float, float]]) -> Scene:
        """The same scene with object i shifted by offsets[i] (fractions of width/height), kept inside the image."""
        if len(offsets) != len(self.objects):
            raise ValueError(f"need {len(self.objects)} offsets, got {len(offsets)}")
        objects = tuple(
            dataclasses.replace(o, x=_clip01(o.x + dx), y=_clip01(o.y + dy))
            for o, (dx, dy) in zip(self.objects, offsets, strict=True)
        )
        return dataclasses.replace(self, objects=objects)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Scene:
        objects = tuple(SceneObject(**{**o, "rgb": tuple(o["rgb"]) if o.get("rgb") else None}) for o in data["objects"])
        return cls(**{**data, "objects": objects})


@dataclass(frozen=True)
class SceneConfig:
    """Difficulty knobs of the generator (see docs/benchmark.md)."""

    object_count_weights: tuple[float, ...] = (0.2, 0.4, 0.4)  # P(1 object), P(2), P(3)
    colors: tuple[str, ...] = tuple(COLORS)
    shapes: tuple[str, ...] = SHAPES
    sizes: tuple[str, ...] = tuple(SIZES)
    outline_prob: float = 0.2  # share of hollow (outline-only) objects
    repeat_prob: float = 0.15  # chance that an object repeats the previous one's shape and colour (counting)
    textures: tuple[str, ...] = TEXTURES
    texture_weights: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2)
    backgrounds: tuple[str, ...] = tuple(BACKGROUNDS)
    max_distractors: int = 2
    color_jitter: int = 18  # +- per RGB channel
    position_jitter: float = 0.04  # +- around the grid cell centre, fraction of the image
    max_rotation: float = 12.0  # degrees

    def __post_init__(self):
        if len(self.object_count_weights) > GRID * GRID or not self.object_count_weights:
            raise ValueError("object_count_weights needs 1 to 9 entries")
        if len(self.texture_weights) != len(self.textures):
            raise ValueError("texture_weights must match textures")

    @property
    def max_objects(self) -> int:
        return len(self.object_count_weights)


DEFAULT_CONFIG = SceneConfig()


def sample_scene(rng: np.random.Generator, config: SceneConfig = DEFAULT_CONFIG) -> Scene:
    """A random scene; the same generator state always gives the same scene."""
    weights = np.asarray(config.object_count_weights, dtype=float)
    count = int(rng.choice(len(weights), p=weights / weights.sum())) + 1
    background = str(rng.choice(config.backgrounds))
    textures = np.asarray(config.texture_weights, dtype=float)
    texture = str(config.textures[int(rng.choice(len(textures), p=textures / textures.sum()))])
    colors = [c for c in config.colors if c not in LOW_CONTRAST.get(background, ())]
    cells = rng.choice(GRID * GRID, size=count, replace=False)
    objects: list[SceneObject] = []
    for cell in cells:
        previous = objects[-1] if objects and rng.random() < config.repeat_prob else None
        objects.append(_sample_object(rng, config, colors, int(cell), previous))
    return Scene(
        tuple(objects),
        background,
        texture,
        int(rng.integers(0, config.max_distractors + 1)),
        int(rng.integers(0, 2**31 - 1)),
    )


def _sample_object(
    rng: np.random.Generator, config: SceneConfig, colors: list[str], cell: int, like: SceneObject | None
) -> SceneObject:
    shape = like.shape if like else str(rng.choice(config.shapes))
    color = like.color if like else str(rng.choice(colors))
    row, col = divmod(cell, GRID)
    jitter = config.position_jitter
    x = (col + 0.5) / GRID + rng.uniform(-jitter, jitter)
    y = (row + 0.5) / GRID + rng.uniform(-jitter, jitter)
    rgb = tuple(
        int(np.clip(c + rng.integers(-config.color_jitter, config.color_jitter + 1), 0, 255)) for c in COLORS[color]
    )
    return SceneObject(
        shape,
        color,
        str(rng.choice(config.sizes)),
        "outline" if rng.random() < config.outline_prob else "solid",
        float(x),
        float(y),
        float(rng.uniform(-config.max_rotation, config.max_rotation)),
        rgb,
    )


def binding_twin(scene: Scene, rng: np.random.Generator) -> Scene | None:
    """A hard negative with the same attributes, bound differently: colours rotated among the objects
    ("红色圆形和蓝色方形" -> "蓝色圆形和红色方形"), or, when colours cannot be rotated, two different objects
    swap places. None when no such change exists (one object, or identical objects only)."""
    objects = list(scene.objects)
    if len(objects) < 2:
        return None
    if len({o.color for o in objects}) == len(objects) and len({o.shape for o in objects}) > 1:
        shift = int(rng.integers(1, len(objects)))
        recolored = [
            dataclasses.replace(o, color=src.color, rgb=src.rgb)
            for o, src in zip(objects, objects[shift:] + objects[:shift], strict=True)
        ]
        return dataclasses.replace(scene, objects=tuple(recolored), detail_seed=scene.detail_seed + 1)
    pairs = [
        (i, j)
        for i in range(len(objects))
        for j in range(i + 1, len(objects))
        if (objects[i].shape, objects[i].color) != (objects[j].shape, objects[j].color)
    ]
    if not pairs:
        return None
    i, j = pairs[int(rng.integers(len(pairs)))]
    a, b = objects[i], objects[j]
    objects[i], objects[j] = dataclasses.replace(a, x=b.x, y=b.y), dataclasses.replace(b, x=a.x, y=a.y)
    return dataclasses.replace(scene, objects=tuple(objects), detail_seed=scene.detail_seed + 1)


def motion_frames(scene: Scene, frames: int, rng: np.random.Generator, speed: float = 0.02) -> Iterator[Scene]:
    """`frames` scenes in which each object drifts in a straight line (`speed` = fraction of the image per
    frame) and bounces off the image border. The first frame is `scene` itself."""
    velocity = rng.uniform(-speed, speed, size=(len(scene.objects), 2))
    current = scene
    for _ in range(frames):
        yield current
        position = np.array([(o.x, o.y) for o in current.objects]) + velocity
        bounced = (position < 0.05) | (position > 0.95)
        velocity = np.where(bounced, -velocity, velocity)
        offsets = np.clip(position, 0.05, 0.95) - np.array([(o.x, o.y) for o in current.objects])
        current = current.moved([tuple(d) for d in offsets.tolist()])


def _clip01(value: float) -> float:
    return min(max(value, 0.0), 1.0)
