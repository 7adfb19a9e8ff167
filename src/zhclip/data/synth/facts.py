"""What a caption claims about a scene, as checkable facts.

Every caption carries the facts it states; a fact evaluates to a boolean per scene over a whole split at
once (`SceneTable`), which gives each caption its complete set of gold images, and lets tests check that
every caption is true of its own image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .scene import BACKGROUNDS, COLORS, FILLS, GRID, SHAPES, SIZES, TEXTURES, Scene, SceneObject

RELATION_MARGIN = 0.5 / GRID  # centres must differ by half a grid cell for 左边/右边/上面/下面
RELATIONS = ("left", "right", "above", "below")
REGIONS = ("left", "right", "top", "bottom", "center", "top_left", "top_right", "bottom_left", "bottom_right")

_ATTRIBUTES = {"shape": SHAPES, "color": tuple(COLORS), "size": tuple(SIZES), "fill": FILLS}


class SceneTable:
    """The objects of many scenes as (scenes, max objects) arrays; absent objects have `present` False."""

    def __init__(self, scenes: Sequence[Scene]):
        width = max([len(s.objects) for s in scenes] + [1])
        shape = (len(scenes), width)
        self.present = np.zeros(shape, dtype=bool)
        self.codes = {name: np.full(shape, -1, dtype=np.int16) for name in _ATTRIBUTES}
        self.x = np.zeros(shape, dtype=np.float32)
        self.y = np.zeros(shape, dtype=np.float32)
        for i, scene in enumerate(scenes):
            for k, obj in enumerate(scene.objects):
                self.present[i, k] = True
                for name, values in _ATTRIBUTES.items():
                    self.codes[name][i, k] = values.index(getattr(obj, name))
                self.x[i, k], self.y[i, k] = obj.x, obj.y
        self.background = np.array([tuple(BACKGROUNDS).index(s.background) for s in scenes], dtype=np.int16)
        self.texture = np.array([TEXTURES.index(s.texture) for s in scenes], dtype=np.int16)

    def __len__(self) -> int:
        return len(self.present)


@dataclass(frozen=True)
class Desc:
    """A partial description of one object; None means "not said"."""

    shape: str | None = None
    color: str | None = None
    size: str | None = None
    fill: str | None = None

    def matches(self, obj: SceneObject) -> bool:
        return all(getattr(self, n) in (None, getattr(obj, n)) for n in _ATTRIBUTES)

    def mask(self, table: SceneTable) -> np.ndarray:
        out = table.present.copy()
        for name, values in _ATTRIBUTES.items():
            value = getattr(self, name)
            if value is not None:
                out &= table.codes[name] == values.index(value)
        return out

    def conflicts(self, other: Desc) -> bool:
        """True when no object can match both (they give different values for some attribute)."""
        return any(
            getattr(self, n) is not None and getattr(other, n) is not None and getattr(self, n) != getattr(other, n)
            for n in _ATTRIBUTES
        )


class Fact(Protocol):
    def holds(self, table: SceneTable) -> np.ndarray: ...


@dataclass(frozen=True)
class Exists:
    """There is an object matching `desc` (inside `region`, when given)."""

    desc: Desc
    region: str | None = None

    def holds(self, table: SceneTable) -> np.ndarray:
        mask = self.desc.mask(table)
        if self.region is not None:
            mask &= region_mask(table, self.region)
        return mask.any(axis=1)


@dataclass(frozen=True)
class Count:
    """Exactly `n` objects match `desc` (an empty Desc counts all objects)."""

    desc: Desc
    n: int

    def holds(self, table: SceneTable) -> np.ndarray:
        return self.desc.mask(table).sum(axis=1) == self.n


@dataclass(frozen=True)
class Relation:
    """An object matching `a` is left of / right of / above / below an object matching `b`."""

    a: Desc
    relation: str
    b: Desc

    def holds(self, table: SceneTable) -> np.ndarray:
        pairs = self.a.mask(table)[:, :, None] & self.b.mask(table)[:, None, :]
        return (pairs & relation_mask(table, self.relation)).any(axis=(1, 2))


@dataclass(frozen=True)
class Backdrop:
    color: str | None = None
    texture: str | None = None

    def holds(self, table: SceneTable) -> np.ndarray:
        out = np.ones(len(table), dtype=bool)
        if self.color is not None:
            out &= table.background == tuple(BACKGROUNDS).index(self.color)
        if self.texture is not None:
            out &= table.texture == TEXTURES.index(self.texture)
        return out


def relation_mask(table: SceneTable, relation: str) -> np.ndarray:
    """(scenes, i, j): object i stands in `relation` to object j (clear by RELATION_MARGIN)."""
    dx = table.x[:, :, None] - table.x[:, None, :]
    dy = table.y[:, :, None] - table.y[:, None, :]
    by_name = {
        "left": dx < -RELATION_MARGIN,
        "right": dx > RELATION_MARGIN,
        "above": dy < -RELATION_MARGIN,
        "below": dy > RELATION_MARGIN,
    }
    return by_name[relation]


def region_mask(table: SceneTable, region: str) -> np.ndarray:
    """(scenes, objects): the object's centre lies in that part of the GRID x GRID layout."""
    col = np.minimum((table.x * GRID).astype(int), GRID - 1)
    row = np.minimum((table.y * GRID).astype(int), GRID - 1)
    left, right, top, bottom = col == 0, col == GRID - 1, row == 0, row == GRID - 1
    by_name = {
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "center": (col == GRID // 2) & (row == GRID // 2),
        "top_left": top & left,
        "top_right": top & right,
        "bottom_left": bottom & left,
        "bottom_right": bottom & right,
    }
    return by_name[region]


def all_hold(facts: Sequence[Fact], table: SceneTable) -> np.ndarray:
    """Boolean per scene: every fact is true."""
    out = np.ones(len(table), dtype=bool)
    for fact in facts:
        out &= fact.holds(table)
    return out
