"""The demo library: photos (one of them HEIC) and short videos of moving shapes, rendered by the offline
benchmark generator (`zhclip.data.synth`), with the captions each file was made from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.synth import captions_for, motion_frames, render_scene, sample_scene
from ..errors import UnsupportedError
from ..io import write_text
from ..media import register_heif, write_video
from ..media.files import HEIF_PACKAGE

DEMO_MODEL = Path(__file__).resolve().parent.parent / "assets" / "demo_model.pt"
PHOTO_SIZE = (640, 480)
VIDEO_SIZE = (320, 240)
VIDEO_FPS = 10


@dataclass
class DemoLibrary:
    folder: Path
    captions: dict[str, list[str]] = field(default_factory=dict)  # file name -> captions of its scene

    @property
    def manifest(self) -> Path:
        return self.folder / "captions.json"


def make_demo_library(
    folder: str | Path, photos: int = 48, videos: int = 4, seconds: float = 8.0, seed: int = 0
) -> DemoLibrary:
    """Render the demo files into `folder` (kept if already there: the same seed gives the same files)."""
    library = DemoLibrary(Path(folder))
    if library.manifest.is_file():
        library.captions = json.loads(library.manifest.read_text(encoding="utf-8"))
        return library
    (library.folder / "photos").mkdir(parents=True, exist_ok=True)
    (library.folder / "videos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(photos):
        scene = sample_scene(rng)
        name = f"photos/photo_{i:03d}.{'heic' if i == 0 else 'jpg'}"
        _save_photo(render_scene(scene, PHOTO_SIZE), library.folder / name)
        library.captions[name] = captions_for(scene, rng, 3)
    for i in range(videos):
        scene = sample_scene(rng)
        name = f"videos/clip_{i:02d}.mp4"
        _write_video(library.folder / name, motion_frames(scene, int(seconds * VIDEO_FPS), rng))
        library.captions[name] = captions_for(scene, rng, 3)
    write_text(library.manifest, json.dumps(library.captions, ensure_ascii=False, indent=1))
    return library


def _save_photo(image, path: Path) -> None:
    if path.suffix == ".heic" and not register_heif():
        raise UnsupportedError(f"the demo's HEIC photo needs {HEIF_PACKAGE}")
    image.save(path, quality=90)


def _write_video(path: Path, scenes) -> None:
    frames = (render_scene(scene, VIDEO_SIZE) for scene in scenes)
    write_video(path, frames, VIDEO_FPS, VIDEO_SIZE, {"crf": "28", "g": str(VIDEO_FPS)})


def sample_query(library: DemoLibrary) -> tuple[str, str]:
    """(a caption, the file it describes) — a query the demo model should answer."""
    name, captions = next(iter(library.captions.items()))
    return captions[0], name
