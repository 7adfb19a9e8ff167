"""The demo library: photos (one of them HEIC) and short videos of moving shapes, rendered by the offline
benchmark generator (`zhclip.data.synth`), with the captions each file was made from; and a few signs and
receipts with Chinese text (drawn where a CJK font is installed) for search by the words in a picture.

Each video is `VIDEO_SHOTS` scenes joined by hard cuts (shots), and the first videos have a subtitle file beside
them (an SRT in UTF-8, an ASS in GB18030, a WebVTT with a BOM, as people's files come) whose cue in each shot
says what that shot shows (a caption of its scene written for the subtitles, not one of the manifest's).

The demo's example queries are chosen after indexing, from those captions, cues and texts: the first whose file
the library ranks first (`first_found`), so the example shows what the model finds, never a result fixed in
advance."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.synth import Scene, captions_for, describe, motion_frames, render_scene, sample_scene
from ..data.synth.subtitles import write_subtitles
from ..errors import UnsupportedError
from ..io import write_text
from ..media import register_heif, write_video
from ..media.files import HEIF_PACKAGE
from ..media.subtitles import Cue, Subtitles, read_sidecar, sidecars
from .query import Query, Result, Searcher
from .ranking import search
from .store import Filters
from .text.normalize import key

DEMO_MODEL = Path(__file__).resolve().parent.parent / "assets" / "demo_model.pt"
PHOTO_SIZE = (640, 480)
VIDEO_SIZE = (320, 240)
VIDEO_FPS = 10
VIDEO_SHOTS = 2  # scenes per video, joined by hard cuts
CUE_MARGIN = 0.3  # seconds from a cut to the start of the next shot's cue, and from its cue's end to the next cut
# The subtitle files of the first videos, by video number: (suffix, encoding); the other videos have none.
SUBTITLE_FILES = ((".srt", "utf-8"), (".chs.ass", "gb18030"), (".zh.vtt", "utf-8-sig"))
# Where a cue breaks into phrases: punctuation, and the words that join the things a caption lists.
PHRASE_BREAK = re.compile(r"[，、。；！？：,;!?:]|和|以及|还有")
MIN_PHRASE = 4  # characters of a phrase searched for in the subtitles
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
    captions: dict[str, list[str]] = field(default_factory=dict)  # file name -> captions of its scene (shots)
    signs: dict[str, str] = field(default_factory=dict)  # file name -> the text it shows first
    subtitles: dict[str, Subtitles] = field(default_factory=dict)  # video name -> the cues of its subtitle file

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
    """Render the demo files into `folder` (kept if already there: the same seed gives the same files; a folder
    made before the videos had shots and subtitles is rendered again); with `signs`, the signs and receipts too
    (for a library that reads text: they are drawn the first time asked)."""
    library = DemoLibrary(Path(folder))
    if library.manifest.is_file():
        library.captions = json.loads(library.manifest.read_text(encoding="utf-8"))
    if not library.captions or _before_subtitles(library):
        _render_scenes(library, photos, videos, seconds, seed)
    library.subtitles = {name: read_sidecar(found[0], library.folder / name) for name, found in _sidecars(library)}
    library.signs = _draw_signs(library.folder / "signs") if signs else {}
    return library


def _before_subtitles(library: DemoLibrary) -> bool:
    """Whether the folder was rendered by a zhclip whose demo videos had no subtitles (nor shots)."""
    return "videos/clip_00.mp4" in library.captions and not any(_sidecars(library))


def _sidecars(library: DemoLibrary) -> Iterable[tuple[str, list[Path]]]:
    """(video name, its subtitle files) of the videos that have any."""
    videos = (name for name in library.captions if name.startswith("videos/"))
    return ((name, found) for name in videos if (found := sidecars(library.folder / name)))


def _render_scenes(library: DemoLibrary, photos: int, videos: int, seconds: float, seed: int) -> None:
    (library.folder / "photos").mkdir(parents=True, exist_ok=True)
    (library.folder / "videos").mkdir(parents=True, exist_ok=True)
    library.captions = {}
    rng = np.random.default_rng(seed)
    for i in range(photos):
        scene = sample_scene(rng)
        name = f"photos/photo_{i:03d}.{'heic' if i == 0 else 'jpg'}"
        _save_photo(render_scene(scene, PHOTO_SIZE), library.folder / name)
        library.captions[name] = captions_for(scene, rng, 3)
    shot_frames = int(seconds * VIDEO_FPS) // VIDEO_SHOTS
    for i in range(videos):
        shots = _cut_scenes(rng, VIDEO_SHOTS)
        name = f"videos/clip_{i:02d}.mp4"
        _write_video(library.folder / name, [s for shot in shots for s in motion_frames(shot, shot_frames, rng)])
        library.captions[name] = [text for shot in shots for text in captions_for(shot, rng, 3)]
        if i < len(SUBTITLE_FILES):
            suffix, encoding = SUBTITLE_FILES[i]
            cues = [_shot_cue(shot, n, shot_frames / VIDEO_FPS, rng) for n, shot in enumerate(shots)]
            write_subtitles(library.folder / f"videos/clip_{i:02d}{suffix}", cues, encoding)
    write_text(library.manifest, json.dumps(library.captions, ensure_ascii=False, indent=1))


def _cut_scenes(rng: np.random.Generator, count: int) -> list[Scene]:
    """`count` scenes, each on another background than the one before (a cut changes the whole picture)."""
    scenes = [sample_scene(rng)]
    while len(scenes) < count:
        scene = sample_scene(rng)
        if scene.background != scenes[-1].background:
            scenes.append(scene)
    return scenes


def _shot_cue(scene: Scene, number: int, length: float, rng: np.random.Generator) -> Cue:
    """The subtitle of shot `number` (each `length` seconds): what its scene shows, a little inside its cuts."""
    start = number * length
    return Cue(round(start + CUE_MARGIN, 3), round(start + length - CUE_MARGIN, 3), describe(scene, rng, 1)[0].text)


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
    searcher: Searcher,
    library: DemoLibrary,
    candidates: Iterable[tuple[str, str]],
    kind: str | None = None,
    match: str | None = None,
) -> Found | None:
    """The first of `candidates` (text, file name) whose file `searcher` ranks first (among files of `kind`) as a
    strong match, else the first it ranks first at all (under the automatic threshold); ranked by `match` (default:
    the library's, CLIP fused with the text sources it has, such as OCR and subtitles)."""
    weak = None
    for text, name in candidates:
        results = search(searcher, Query(text=text, top=5, filters=Filters(kind=kind)), match)
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


def subtitle_phrases(library: DemoLibrary) -> list[tuple[str, str]]:
    """(phrase, video name): the phrases of the videos' cues (at least `MIN_PHRASE` characters; a cue listing
    things has one per thing) that no other cue of the library holds, so that each names one moment."""
    cues = [(cue, name) for name, subtitles in library.subtitles.items() for cue in subtitles.cues]
    keys = [key(cue.text) for cue, _ in cues]
    phrases = []
    for cue, name in cues:
        for phrase in PHRASE_BREAK.split(cue.text):
            needle = key(phrase)
            if len(needle) >= MIN_PHRASE and sum(needle in other for other in keys) == 1:
                phrases.append((phrase, name))
    return phrases


def cue_of(library: DemoLibrary, found: Found) -> Cue:
    """The cue of `found`'s video that holds its phrase (one of `subtitle_phrases`)."""
    return next(cue for cue in library.subtitles[found.name].cues if key(found.text) in key(cue.text))


def rank_of(results: list[Result], library: DemoLibrary, name: str, cue: Cue) -> int | None:
    """Where among `results` (1 = first) the moment of `cue` in the video `name` is, if at all."""
    path = (library.folder / name).absolute()
    at = (rank for rank, r in enumerate(results, 1) if Path(r.path) == path and _overlaps(r, cue))
    return next(at, None)


def _overlaps(result: Result, cue: Cue) -> bool:
    end = math.inf if result.end is None else result.end
    return result.start is not None and result.start < cue.end and cue.start < end
