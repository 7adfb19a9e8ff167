"""The synthetic benchmark: deterministic, captions true of their images, binding matters, renders anywhere."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from zhclip.data.formats import read_texts
from zhclip.data.synth import (
    Desc,
    Exists,
    Scene,
    SceneObject,
    SceneTable,
    all_hold,
    binding_twin,
    captions_for,
    describe,
    generate,
    motion_frames,
    render_scene,
    sample_scene,
)
from zhclip.data.synth.captions import COLOR_WORDS, NUMBER_WORDS, SHAPE_WORDS
from zhclip.data.synth.scene import COLORS

# Longest words first, so "正方形" is not read as "方形".
_SHAPE_PATTERN = "|".join(sorted({w for ws in SHAPE_WORDS.values() for w in ws}, key=len, reverse=True))
_WORD_TO_SHAPE = {w: s for s, ws in SHAPE_WORDS.items() for w in ws}
_WORD_TO_COLOR = {w: c for c, w in COLOR_WORDS.items()}
_NUMBER_TO_INT = {w: n for n, w in NUMBER_WORDS.items()}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(out, train=20, valid=0, test=60, seed=7)
    return out


def _scenes(root, split) -> dict[int, Scene]:
    rows = [json.loads(line) for line in (root / f"{split}_scenes.jsonl").read_text().splitlines()]
    return {row.pop("image_id"): Scene.from_dict(row) for row in rows}


def test_same_seed_same_bytes_other_seed_differs(synth_dir, tmp_path):
    generate(tmp_path / "again", train=20, valid=0, test=60, seed=7)
    generate(tmp_path / "other", train=20, valid=0, test=60, seed=8)
    for name in ("train_imgs.tsv", "train_texts.jsonl", "test_imgs.tsv", "test_texts.jsonl", "test_scenes.jsonl"):
        assert (tmp_path / "again" / name).read_bytes() == (synth_dir / name).read_bytes(), name
        assert (tmp_path / "other" / name).read_bytes() != (synth_dir / name).read_bytes(), name


def test_layout_and_gold(synth_dir):
    train = list(read_texts(synth_dir / "train_texts.jsonl"))
    assert len(train) == 20 * 5 and all(len(r.image_ids) == 1 for r in train)  # train: own image only
    test = list(read_texts(synth_dir / "test_texts.jsonl"))
    assert len({r.text for r in test}) == len(test)  # valid/test: one record per distinct caption
    assert any(len(r.image_ids) > 1 for r in test) and any(len(r.image_ids) == 1 for r in test)
    test_ids = set(_scenes(synth_dir, "test"))
    assert {i for r in test for i in r.image_ids} <= test_ids
    assert not test_ids & set(_scenes(synth_dir, "train"))  # ids unique across splits


def test_captions_agree_with_the_scene_description(synth_dir):
    """Read the words back out of every caption and check them against the generator's scene description:
    every colour and shape word names an object that is there, every count is right, and the caption's
    gold images are exactly the images whose scenes make its facts true."""
    scenes = _scenes(synth_dir, "test")
    ids = sorted(scenes)
    table = SceneTable([scenes[i] for i in ids])
    checked = 0
    for record in read_texts(synth_dir / "test_texts.jsonl"):
        for image_id in record.image_ids:
            _check_words(record.text, scenes[image_id])
            checked += 1
    assert checked > 200
    # Regenerate each image's captions with their facts: the file's gold images are exactly those whose
    # scenes make the facts true (partial captions have all their matching images as gold), and only
    # captions true of more than 3 of the 60 images (too vague to rank) were left out.
    records = {r.text: set(r.image_ids) for r in read_texts(synth_dir / "test_texts.jsonl")}
    for index, scene in enumerate(scenes[i] for i in ids):
        for caption in describe(scene, np.random.default_rng([7, 2, index, 1]), 5):
            gold = {ids[k] for k in np.flatnonzero(all_hold(caption.facts, table))}
            assert ids[index] in gold, caption.text
            assert records[caption.text] == gold if caption.text in records else len(gold) > 3, caption.text


def _check_words(text: str, scene: Scene) -> None:
    colors = {o.color for o in scene.objects}
    shapes = {o.shape for o in scene.objects}
    for word in re.findall("|".join(_WORD_TO_COLOR), text):
        assert _WORD_TO_COLOR[word] in colors, (text, scene)
    for word in re.findall(_SHAPE_PATTERN, text):
        assert _WORD_TO_SHAPE[word] in shapes, (text, scene)
    total = re.search(r"(?:共有|一共有|一共|有)([一两三])个(?:图形|形状)", text)
    if total:
        assert _NUMBER_TO_INT[total.group(1)] == len(scene.objects), (text, scene)
    for number, what in re.findall(r"([两三])个(.+?)(?=以及|还有|[，。、和：]|$)", text):
        shape = next((s for w, s in _WORD_TO_SHAPE.items() if what.endswith(w)), None)
        color = next((c for w, c in _WORD_TO_COLOR.items() if w in what), None)
        size = "large" if "大" in what else "small" if "小" in what else None
        fill = "outline" if "空心" in what else "solid" if "实心" in what else None
        if shape or color:
            matching = [
                o
                for o in scene.objects
                if shape in (None, o.shape)
                and color in (None, o.color)
                and size in (None, o.size)
                and fill in (None, o.fill)
            ]
            assert len(matching) == _NUMBER_TO_INT[number], (text, scene)


def test_binding_twin_needs_attribute_binding():
    red_circle = SceneObject("circle", "red", "large", "solid", 0.2, 0.5)
    blue_square = SceneObject("square", "blue", "large", "solid", 0.8, 0.5)
    scene = Scene((red_circle, blue_square))
    twin = binding_twin(scene, np.random.default_rng(0))
    assert sorted((o.shape, o.color) for o in twin.objects) == [("circle", "blue"), ("square", "red")]
    table = SceneTable([scene, twin])
    both = (Exists(Desc(shape="circle", color="red")), Exists(Desc(shape="square", color="blue")))
    assert all_hold(both, table).tolist() == [True, False]  # 红色圆形和蓝色方形 is not true of its twin
    bag_of_words = (
        Exists(Desc(color="red")),
        Exists(Desc(color="blue")),
        Exists(Desc(shape="circle")),
        Exists(Desc(shape="square")),
    )
    assert all_hold(bag_of_words, table).tolist() == [True, True]  # unbound attributes cannot tell them apart


def test_render_matches_scene_at_any_size():
    scene = Scene(
        (
            SceneObject("square", "red", "large", "solid", 0.25, 0.5),
            SceneObject("circle", "blue", "small", "outline", 0.75, 0.5),
        ),
        background="white",
    )
    for size in ((96, 96), (1920, 1080)):
        image = render_scene(scene, size)
        assert image.size == size
        w, h = size
        assert image.getpixel((w // 4, h // 2)) == COLORS["red"]  # solid: colour at its centre
        assert image.getpixel((3 * w // 4, h // 2)) == (245, 245, 245)  # outline: background at its centre
    moved = scene.moved([(0.5, 0.0), (0.0, 0.0)])
    assert render_scene(moved, (96, 96)).getpixel((72, 48)) == COLORS["red"]


def test_motion_frames_stay_inside_and_move():
    scene = sample_scene(np.random.default_rng(3))
    frames = list(motion_frames(scene, 40, np.random.default_rng(4), speed=0.05))
    assert len(frames) == 40 and frames[0] == scene
    positions = np.array([[(o.x, o.y) for o in f.objects] for f in frames])
    assert positions.min() >= 0 and positions.max() <= 1
    assert np.abs(np.diff(positions, axis=0)).max() > 0


def test_captions_for_is_deterministic_and_chinese():
    scene = sample_scene(np.random.default_rng(11))
    first = captions_for(scene, np.random.default_rng(5), 6)
    assert first == captions_for(scene, np.random.default_rng(5), 6)
    assert len(set(first)) == len(first) >= 3
    assert all(re.fullmatch(r"[\u4e00-\u9fff，。、：]+", text) for text in first)
