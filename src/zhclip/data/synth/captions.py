"""Chinese captions for synthetic scenes, each with the facts it states (so it can be checked and graded).

Kinds: a full listing of the objects, partial mentions (some objects, some attributes), spatial relations
(左边/右边/上面/下面), positions in the frame (左上角, 中间 ...), counts, and background. Object mentions in
one caption never overlap (their descriptions conflict on some attribute), so "there is an A and a B"
really means two different objects; a mention matching several objects is stated as a count (两个圆形)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .facts import (
    REGIONS,
    RELATIONS,
    Backdrop,
    Count,
    Desc,
    Exists,
    Fact,
    Relation,
    SceneTable,
    region_mask,
    relation_mask,
)
from .scene import Scene, SceneObject

COLOR_WORDS = {
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "green": "绿色",
    "cyan": "青色",
    "blue": "蓝色",
    "purple": "紫色",
    "pink": "粉色",
    "brown": "棕色",
    "black": "黑色",
}
SHAPE_WORDS = {
    "circle": ("圆形", "圆"),
    "square": ("正方形", "方形", "方块"),
    "triangle": ("三角形",),
    "star": ("五角星", "星形", "星星"),
    "diamond": ("菱形",),
    "cross": ("十字形", "十字"),
    "hexagon": ("六边形",),
}
SIZE_WORDS = {"small": "小", "large": "大"}  # medium is never said
FILL_WORDS = {"solid": "实心", "outline": "空心"}
GENERIC_NOUNS = ("图形", "图案")
BACKGROUND_WORDS = {"white": "白色", "light_grey": "浅灰色", "beige": "米色", "dark_grey": "深灰色"}
TEXTURE_WORDS = {"stripes": "条纹", "checker": "格子", "gradient": "渐变"}  # plain is never said
REGION_WORDS = {
    "left": ("左边", "左侧"),
    "right": ("右边", "右侧"),
    "top": ("上方", "上部"),
    "bottom": ("下方", "下部"),
    "center": ("中间", "正中间", "中央"),
    "top_left": ("左上角",),
    "top_right": ("右上角",),
    "bottom_left": ("左下角",),
    "bottom_right": ("右下角",),
}
NUMBER_WORDS = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九"}

LIST_TEMPLATES = (
    "画面中有{L}。",
    "图中有{L}。",
    "这张图片里有{L}。",
    "图上画着{L}。",
    "可以看到{L}。",
    "{L}。",
    "一张图片，上面有{L}。",
    "图里是{L}。",
)
ONLY_TEMPLATES = ("画面中只有{L}。", "图中只画了{L}。", "图里一共{N}个图形：{L}。")
RELATION_TEMPLATES = {
    "left": ("{A}在{B}的左边。", "{A}位于{B}的左侧。", "{B}的左边是{A}。", "{B}左边有{QA}。", "{A}在左，{B}在右。"),
    "right": ("{A}在{B}的右边。", "{A}位于{B}的右侧。", "{B}的右边是{A}。", "{B}右边有{QA}。", "{B}在左，{A}在右。"),
    "above": ("{A}在{B}的上面。", "{A}位于{B}的上方。", "{B}的上方是{A}。", "{B}上面有{QA}。", "{A}在上，{B}在下。"),
    "below": ("{A}在{B}的下面。", "{A}位于{B}的下方。", "{B}的下方是{A}。", "{B}下面有{QA}。", "{B}在上，{A}在下。"),
}
POSITION_TEMPLATES = ("{R}有{QA}。", "{A}在画面的{R}。", "图片{R}是{QA}。", "{QA}位于图中{R}。")
TOTAL_TEMPLATES = ("画面里一共有{N}个图形。", "图中共有{N}个图形。", "{N}个图形。", "这张图上有{N}个形状。")
COUNT_TEMPLATES = ("画面里有{QA}。", "图中可以看到{QA}。", "有{QA}。")
ONLY_ONE_TEMPLATES = ("只有{QA}。", "图中只有{QA}。")
BACKGROUND_TEMPLATES = ("{BG}上有{L}。", "在{BG}上画着{L}。", "{L}，{BG}。")

# Which attributes a partial mention names, and how often.
PARTIAL_FORMS = (
    (("color", "shape"), 0.45),
    (("shape",), 0.08),
    (("color",), 0.07),
    (("size", "shape"), 0.08),
    (("fill", "shape"), 0.04),
    (("size", "color", "shape"), 0.18),
    (("fill", "color", "shape"), 0.1),
)


@dataclass(frozen=True)
class Caption:
    text: str
    facts: tuple[Fact, ...]
    kind: str


@dataclass(frozen=True)
class Mention:
    """A description and how many objects of the scene it matches (said as 一个 / 两个 ...)."""

    desc: Desc
    count: int

    def fact(self) -> Fact:
        return Exists(self.desc) if self.count == 1 else Count(self.desc, self.count)


def captions_for(scene: Scene, rng: np.random.Generator, n: int) -> list[str]:
    """Up to `n` different captions of the scene (the first lists every object)."""
    return [c.text for c in describe(scene, rng, n)]


def describe(scene: Scene, rng: np.random.Generator, n: int) -> list[Caption]:
    """Up to `n` different captions with their facts; fewer only when the scene is too simple for more."""
    captions = [full_caption(scene, rng)]
    names = [name for name, _ in CAPTION_KINDS]
    weights = np.array([w for _, w in CAPTION_KINDS])
    attempts = 0
    while len(captions) < n and attempts < 25 * n:
        attempts += 1
        kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        caption = KIND_FUNCTIONS[kind](scene, rng)
        if caption is not None and all(caption.text != c.text for c in captions):
            captions.append(caption)
    return captions


# ------------------------------------------------------------------ caption kinds


def full_caption(scene: Scene, rng: np.random.Generator) -> Caption:
    """Every object, with colour and shape (sometimes size or 空心), optionally as an exhaustive list."""
    mentions = [mention(scene, _full_desc(group, rng)) for group in _groups(scene)]
    facts = [m.fact() for m in mentions]
    listing = _listing(mentions, rng)
    if rng.random() < 0.25:
        template = _pick(rng, ONLY_TEMPLATES)
        facts.append(Count(Desc(), len(scene.objects)))
        return Caption(template.format(L=listing, N=NUMBER_WORDS[len(scene.objects)]), tuple(facts), "full")
    return Caption(_pick(rng, LIST_TEMPLATES).format(L=listing), tuple(facts), "full")


def _partial(scene: Scene, rng: np.random.Generator) -> Caption:
    mentions = _partial_mentions(scene, rng)
    return Caption(
        _pick(rng, LIST_TEMPLATES).format(L=_listing(mentions, rng)), tuple(m.fact() for m in mentions), "partial"
    )


def _relation(scene: Scene, rng: np.random.Generator) -> Caption | None:
    table = SceneTable([scene])
    options = [(rel, pair) for rel in RELATIONS for pair in np.argwhere(relation_mask(table, rel)[0])]
    if not options:
        return None
    rel, (i, j) = options[int(rng.integers(len(options)))]
    a, b = _definite_desc(scene, scene.objects[i], rng), _definite_desc(scene, scene.objects[j], rng)
    if a is None or b is None or not a.conflicts(b):
        return None
    phrase_a = noun_phrase(a, rng)
    text = _pick(rng, RELATION_TEMPLATES[rel]).format(A=phrase_a, B=noun_phrase(b, rng), QA=f"一个{phrase_a}")
    return Caption(text, (Relation(a, rel, b),), "relation")


def _position(scene: Scene, rng: np.random.Generator) -> Caption | None:
    k = int(rng.integers(len(scene.objects)))
    desc = _definite_desc(scene, scene.objects[k], rng)
    table = SceneTable([scene])
    regions = [r for r in REGIONS if region_mask(table, r)[0, k]]
    if desc is None or not regions:
        return None
    region = regions[int(rng.integers(len(regions)))]
    phrase = noun_phrase(desc, rng)
    text = _pick(rng, POSITION_TEMPLATES).format(R=_pick(rng, REGION_WORDS[region]), A=phrase, QA=f"一个{phrase}")
    return Caption(text, (Exists(desc, region),), "position")


def _count(scene: Scene, rng: np.random.Generator) -> Caption:
    total = len(scene.objects)
    everything = Count(Desc(), total)
    if total > 1 and rng.random() < 0.15:
        return Caption(_pick(rng, TOTAL_TEMPLATES).format(N=NUMBER_WORDS[total]), (everything,), "count")
    obj = scene.objects[int(rng.integers(total))]
    counted = mention(scene, Desc(shape=obj.shape) if rng.random() < 0.6 else Desc(color=obj.color))
    fact = Count(counted.desc, counted.count)
    if counted.count == 1:
        return Caption(_pick(rng, ONLY_ONE_TEMPLATES).format(QA=quantified(counted, rng)), (fact,), "count")
    if counted.count < total and rng.random() < 0.5:
        what = _pick(rng, SHAPE_WORDS[obj.shape]) if counted.desc.shape else f"{COLOR_WORDS[obj.color]}的"
        text = f"{NUMBER_WORDS[total]}个图形，其中{NUMBER_WORDS[counted.count]}个是{what}。"
        return Caption(text, (everything, fact), "count")
    return Caption(_pick(rng, COUNT_TEMPLATES).format(QA=quantified(counted, rng)), (fact,), "count")


def _background(scene: Scene, rng: np.random.Generator) -> Caption:
    say_color = scene.texture not in TEXTURE_WORDS or rng.random() < 0.6
    backdrop = Backdrop(
        scene.background if say_color else None,
        scene.texture if scene.texture in TEXTURE_WORDS and rng.random() < 0.7 else None,
    )
    words = BACKGROUND_WORDS.get(backdrop.color or "", "") + TEXTURE_WORDS.get(backdrop.texture or "", "")
    mentions = _partial_mentions(scene, rng, most=1)
    text = _pick(rng, BACKGROUND_TEMPLATES).format(BG=f"{words}背景", L=_listing(mentions, rng))
    return Caption(text, (backdrop, *(m.fact() for m in mentions)), "background")


CAPTION_KINDS = (
    ("full", 0.15),
    ("partial", 0.25),
    ("relation", 0.25),
    ("position", 0.15),
    ("count", 0.1),
    ("background", 0.1),
)
KIND_FUNCTIONS: dict[str, Callable[[Scene, np.random.Generator], Caption | None]] = {
    "full": full_caption,
    "partial": _partial,
    "relation": _relation,
    "position": _position,
    "count": _count,
    "background": _background,
}


# ------------------------------------------------------------------ mentions


def mention(scene: Scene, desc: Desc) -> Mention:
    return Mention(desc, sum(desc.matches(o) for o in scene.objects))


def _groups(scene: Scene) -> list[SceneObject]:
    """One representative object per distinct (shape, colour), in scene order."""
    seen: dict[tuple[str, str], SceneObject] = {}
    for obj in scene.objects:
        seen.setdefault((obj.shape, obj.color), obj)
    return list(seen.values())


def _full_desc(obj: SceneObject, rng: np.random.Generator) -> Desc:
    draw = rng.random()
    if obj.fill == "outline" and draw < 0.6:
        return Desc(shape=obj.shape, color=obj.color, fill=obj.fill)
    if obj.size in SIZE_WORDS and draw < 0.3:
        return Desc(shape=obj.shape, color=obj.color, size=obj.size)
    return Desc(shape=obj.shape, color=obj.color)


def _partial_mentions(scene: Scene, rng: np.random.Generator, most: int = 2) -> list[Mention]:
    """One or two objects, each named by a random subset of its attributes; if two descriptions could name
    the same object, both fall back to colour + shape."""
    groups = _groups(scene)
    chosen = rng.choice(len(groups), size=int(rng.integers(1, min(most, len(groups)) + 1)), replace=False)
    forms = [PARTIAL_FORMS[int(rng.choice(len(PARTIAL_FORMS), p=[w for _, w in PARTIAL_FORMS]))][0] for _ in chosen]
    descs = [_desc_of(groups[g], form) for g, form in zip(chosen, forms, strict=True)]
    if any(not a.conflicts(b) for k, a in enumerate(descs) for b in descs[k + 1 :]):
        descs = [Desc(shape=groups[g].shape, color=groups[g].color) for g in chosen]
    return [mention(scene, d) for d in descs]


def _desc_of(obj: SceneObject, attributes: Sequence[str]) -> Desc:
    said = {name: getattr(obj, name) for name in attributes}
    if said.get("size") not in SIZE_WORDS:
        said.pop("size", None)
    return Desc(**said)


def _definite_desc(scene: Scene, obj: SceneObject, rng: np.random.Generator) -> Desc | None:
    """A description that picks out `obj` alone ("the red circle"), preferring colour + shape."""
    candidates = [
        Desc(shape=obj.shape, color=obj.color),
        Desc(shape=obj.shape),
        Desc(color=obj.color),
        _desc_of(obj, ("size", "color", "shape")),
        _desc_of(obj, ("fill", "color", "shape")),
    ]
    weights = [0.55, 0.15, 0.1, 0.1, 0.1]
    unique = [(d, w) for d, w in zip(candidates, weights, strict=True) if mention(scene, d).count == 1]
    if not unique:
        return None
    probs = np.array([w for _, w in unique])
    return unique[int(rng.choice(len(unique), p=probs / probs.sum()))][0]


# ------------------------------------------------------------------ wording


def noun_phrase(desc: Desc, rng: np.random.Generator) -> str:
    """ "红色圆形", "红色的圆", "大的红色圆形", "红色的空心圆形", "小星星", "紫色的图形" ..."""
    noun = _pick(rng, SHAPE_WORDS[desc.shape]) if desc.shape else _pick(rng, GENERIC_NOUNS)
    modifier = "".join(w for w in (SIZE_WORDS.get(desc.size or ""), FILL_WORDS.get(desc.fill or "")) if w)
    if desc.color is None:
        return f"{modifier}{noun}"
    color = COLOR_WORDS[desc.color]
    if not modifier:
        return f"{color}{noun}" if len(noun) > 1 and rng.random() < 0.6 else f"{color}的{noun}"
    if len(noun) > 1 and rng.random() < 0.5:
        return f"{modifier}的{color}{noun}"
    return f"{color}的{modifier}{noun}"


def quantified(m: Mention, rng: np.random.Generator) -> str:
    return f"{NUMBER_WORDS[m.count]}个{noun_phrase(m.desc, rng)}"


def _listing(mentions: Sequence[Mention], rng: np.random.Generator) -> str:
    items = [quantified(m, rng) for m in mentions]
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return _pick(rng, ("{0}和{1}", "{0}，还有{1}", "{0}以及{1}")).format(*items)
    return "、".join(items[:-1]) + _pick(rng, ("和", "，还有")) + items[-1]


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]
