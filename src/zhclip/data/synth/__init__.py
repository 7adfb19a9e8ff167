"""The offline benchmark: procedurally generated images of coloured shapes with Chinese captions.

    scene = sample_scene(np.random.default_rng(0))
    image = render_scene(scene, size=(1920, 1080))
    texts = captions_for(scene, np.random.default_rng(1), n=5)
    frames = [render_scene(s) for s in motion_frames(scene, 30, rng)]   # objects moving
    generate("datasets/synth", train=10000, valid=1000, test=1000, seed=0)

Design and difficulty knobs: docs/benchmark.md."""

from .captions import Caption, captions_for, describe
from .facts import Backdrop, Count, Desc, Exists, Relation, SceneTable, all_hold
from .generate import SplitStats, SynthOptions, generate, generate_zeroshot, split_scenes
from .render import render_scene
from .scene import DEFAULT_CONFIG, Scene, SceneConfig, SceneObject, binding_twin, motion_frames, sample_scene

__all__ = [
    "DEFAULT_CONFIG",
    "Backdrop",
    "Caption",
    "Count",
    "Desc",
    "Exists",
    "Relation",
    "Scene",
    "SceneConfig",
    "SceneObject",
    "SceneTable",
    "SplitStats",
    "SynthOptions",
    "all_hold",
    "binding_twin",
    "captions_for",
    "describe",
    "generate",
    "generate_zeroshot",
    "motion_frames",
    "render_scene",
    "sample_scene",
    "split_scenes",
]
