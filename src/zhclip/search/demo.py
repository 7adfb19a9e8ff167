"""The demo library: photos (one of them HEIC) and short videos of moving shapes, rendered by the offline
benchmark generator (`zhclip.data.synth`), with the captions each file was made from; and a few signs and
receipts with Chinese text (drawn where a CJK font is installed) for search by the words in a picture.

The demo's example queries are chosen after indexing, from those captions and texts: the first whose file the
library ranks first (`first_found`), so the example shows what the model finds, never a result fixed in advance."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.synth import captions_for, motion_frames, render_scene, sample_scene
from ..errors import UnsupportedError
from ..io import write_text
from ..media import register_heif, write_video
from ..media.files import HEIF_PACKAGE
from .query import Query, Result, Searcher
from .ranking import search
from .store import Filters

DEMO_MODEL = Path(__file__).resolve().parent.parent / "assets" / "demo_model.pt"
PHOTO_SIZE = (640, 480)
VIDEO_SIZE = (320, 240)
VIDEO_FPS = 10
# Fonts with simplified Chinese glyphs (file, face in the collection): Debian/Ubuntu fonts-noto-cjk, macOS, Windows.
CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),
)
# Signs and receipts: their lines (the first one is what the demo searches for), paper and ink colours.
SIGNS = (
    (("营业时间", "周一至周日 09:00-21:00"), (250, 250, 245), (30, 30, 30)),
    (("超市购物小票", "牛奶 12.50", "面包 8.00", "合计 20.50"), (245, 242, 232), (40, 40, 40)),
    (("禁止吸烟", "NO SMOKING"), (255, 255, 255), (200, 30, 30)),
    (("停车收费凭证", "车牌 京A12345", "金额 10.00 元"), (235, 240, 250), (20, 40, 120)),
)


@dataclass
class DemoLibrary:
    folder: Path
    captions: dict[str, list[str]] = field(default_factory=dict)  # file name -> captions of its scene
    signs: dict[str, str] = field(default_factory=dict)  # file name -> the text it shows first

    @property
    def manifest(self) -> Path:
        return self.folder / "captions.json"


@dataclass
class Found:
    """A query and the file it describes, found first among `results`."""

    text: str
    name: str
    results: list[Result]


def make_demo_library(
    folder: str | Path, photos: int = 48, videos: int = 4, seconds: float = 8.0, seed: int = 0, signs: bool = True
) -> DemoLibrary:
    """Render the demo files into `folder` (kept if already there: the same seed gives the same files); with
    `signs`, the signs and receipts too (for a library that reads text: they are drawn the first time asked)."""
    library = DemoLibrary(Path(folder))
    if not library.manifest.is_file():
        _render_scenes(library, photos, videos, seconds, seed)
    library.captions = json.loads(library.manifest.read_text(encoding="utf-8"))
    library.signs = _draw_signs(library.folder / "signs") if signs else {}
    return library


def _render_scenes(library: DemoLibrary, photos: int, videos: int, seconds: float, seed: int) -> None:
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


def cjk_font() -> tuple[str, int] | None:
    """(font file, face) of an installed font with Chinese glyphs, or None."""
    return next(((path, face) for path, face in CJK_FONTS if Path(path).is_file()), None)


def _draw_signs(folder: Path) -> dict[str, str]:
    """The signs in `folder` (drawn if missing): file name -> its first line; none without a CJK font."""
    font = cjk_font()
    if font is None:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    signs = {}
    for i, (lines, paper, ink) in enumerate(SIGNS):
        name = f"signs/sign_{i:02d}.jpg"
        if not (folder.parent / name).is_file():
            draw_sign(lines, paper, ink, font).save(folder.parent / name, quality=90)
        signs[name] = lines[0]
    return signs


def draw_sign(lines: Iterable[str], paper, ink, font: tuple[str, int]) -> Image.Image:
    """`lines` centred on a photo-sized card, the first one large (a heading), in `font` (file, face)."""
    image = Image.new("RGB", PHOTO_SIZE, paper)
    draw = ImageDraw.Draw(image)
    top = 70
    for i, line in enumerate(lines):
        size = 64 if i == 0 else 36
        typeface = ImageFont.truetype(font[0], size, index=font[1])
        draw.text(((PHOTO_SIZE[0] - draw.textlength(line, font=typeface)) / 2, top), line, font=typeface, fill=ink)
        top += size + 40
    return image


def _save_photo(image, path: Path) -> None:
    if path.suffix == ".heic" and not register_heif():
        raise UnsupportedError(f"the demo's HEIC photo needs {HEIF_PACKAGE}")
    image.save(path, quality=90)


def _write_video(path: Path, scenes) -> None:
    frames = (render_scene(scene, VIDEO_SIZE) for scene in scenes)
    write_video(path, frames, VIDEO_FPS, VIDEO_SIZE, {"crf": "28", "g": str(VIDEO_FPS)})


def first_found(
    searcher: Searcher, library: DemoLibrary, candidates: Iterable[tuple[str, str]], kind: str | None = None
) -> Found | None:
    """The first of `candidates` (text, file name) whose file `searcher` ranks first (among files of `kind`) as a
    strong match, else the first it ranks first at all (under the automatic threshold); with the library's
    default match (CLIP, or CLIP fused with OCR where the library has read the text in its files)."""
    weak = None
    for text, name in candidates:
        results = search(searcher, Query(text=text, top=5, filters=Filters(kind=kind)))
        if results and Path(results[0].path) == (library.folder / name).absolute():
            if not results[0].weak:
                return Found(text, name, results)
            weak = weak or Found(text, name, results)
    return weak


def captions_of(library: DemoLibrary, folder: str) -> list[tuple[str, str]]:
    """(caption, file name) of the files under `folder` ("photos", "videos"), file by file."""
    return [(text, name) for name, texts in library.captions.items() if name.startswith(folder + "/") for text in texts]


def sign_texts(library: DemoLibrary) -> list[tuple[str, str]]:
    return [(text, name) for name, text in library.signs.items()]
