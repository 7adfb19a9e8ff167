"""zhclip.media: the one module that opens images and videos (limits, orientation, modes, HEIC, draft, frames)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zhclip import media
from zhclip.errors import DecodeError
from zhclip.evaluate import zeroshot
from zhclip.media import Limits, load_image, open_image

SRC = Path(__file__).resolve().parent.parent / "src" / "zhclip"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_heic_opens_without_importing_search_first(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    Image.new("RGB", (96, 64), (10, 200, 90)).save(tmp_path / "phone.heic")
    code = (
        "import sys\n"
        "from zhclip.media import open_image\n"
        f"image = open_image({str(tmp_path / 'phone.heic')!r})\n"
        "assert not any(m.startswith('zhclip.search') for m in sys.modules), 'search was imported'\n"
        "print(image.size, image.getpixel((40, 30)))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    size, pixel = result.stdout.strip().split(") (")
    assert size == "(96, 64"
    assert np.abs(np.array(eval("(" + pixel)) - (10, 200, 90)).max() < 12


def _error_without(module: str, call: str) -> str:
    """The DecodeError that `call` raises in a fresh interpreter where `module` cannot be imported."""
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # as if the extra were not installed\n"
        "from zhclip import media\n"
        "from zhclip.errors import DecodeError\n"
        "try:\n"
        f"    media.{call}\n"
        "except DecodeError as exc:\n"
        "    print(exc)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_heic_without_pillow_heif_names_the_extra(tmp_path):
    (tmp_path / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    message = _error_without("pillow_heif", f"open_image({str(tmp_path / 'phone.heic')!r})")
    assert "phone.heic" in message and "pillow-heif" in message and "pip install pillow-heif" in message


def test_video_without_pyav_names_the_extra(tmp_path):
    message = _error_without("av", f"video_frame({str(tmp_path / 'clip.mp4')!r}, 0.0)")
    assert "clip.mp4" in message and "PyAV" in message


def test_exif_orientation_is_applied_and_reported(tmp_path):
    pixels = np.zeros((120, 200, 3), np.uint8)
    pixels[:, :100] = (255, 0, 0)  # left half red, right half blue
    pixels[:, 100:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise: 120 wide, 200 high, red on top
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)

    loaded = load_image(tmp_path / "r.jpg")
    assert loaded.image.size == (120, 200) and loaded.orientation == 6
    assert (loaded.info.width, loaded.info.height, loaded.info.camera) == (120, 200, "Canon EOS 5D")
    top, bottom = loaded.image.getpixel((60, 20)), loaded.image.getpixel((60, 180))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]
    assert open_image(tmp_path / "r.jpg", orient=False).size == (200, 120)


def test_16bit_grey_keeps_its_tones(tmp_path):
    ramp = np.linspace(0, 65535, 128 * 128).reshape(128, 128).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    image = open_image(tmp_path / "grey16.png", rgb=True)
    assert image.mode == "RGB"
    rgb = np.asarray(image, np.float32)
    assert abs(rgb.mean() - 127.5) < 2 and rgb.min() == 0 and rgb.max() == 255, "not clipped to white"


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (80, 80), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)  # red in CMYK
    image = open_image(tmp_path / "cmyk.jpg", rgb=True)
    assert image.mode == "RGB"
    r, g, b = image.getpixel((40, 40))
    assert r > 230 and g < 25 and b < 25


def test_draft_decodes_a_jpeg_near_the_target_size(tmp_path):
    Image.new("RGB", (2000, 1500), (40, 80, 120)).save(tmp_path / "big.jpg")
    loaded = load_image(tmp_path / "big.jpg", draft=224)
    assert loaded.image.size == (500, 375), "the largest DCT scale that stays at least 224 on each side"
    assert (loaded.info.width, loaded.info.height) == (2000, 1500), "facts describe the full-size file"


def test_pixel_limit_names_the_file_before_decoding(tmp_path):
    Image.new("RGB", (100, 80)).save(tmp_path / "wide.png")
    with pytest.raises(DecodeError, match=re.escape(str(tmp_path / "wide.png")) + r": 100x80 is more than the limit"):
        open_image(tmp_path / "wide.png", limits=Limits(max_pixels=5000))
    with pytest.raises(DecodeError, match=r"wide\.png: 100x80 is smaller than the minimum 90x90"):
        open_image(tmp_path / "wide.png", limits=Limits(min_side=90))
    with pytest.raises(DecodeError, match=r"wide\.png: image file is larger than the limit of 0 MiB"):
        open_image(tmp_path / "wide.png", limits=Limits(max_bytes=100))


def test_undecodable_files_raise_one_error_family(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is a text file, not a photo")
    good = tmp_path / "good.jpg"
    Image.new("RGB", (320, 240), (1, 2, 3)).save(good)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:300])
    for name, reason in [
        ("notes.jpg", "cannot decode image: not an image"),
        ("cut.jpg", "cannot decode image:"),
        ("missing.jpg", "no such file"),
    ]:
        with pytest.raises(DecodeError, match=re.escape(f"{name}: {reason}")):
            open_image(tmp_path / name, rgb=True)
    with pytest.raises(DecodeError, match="upload: cannot decode image: not an image"):
        open_image(b"garbage", name="upload")


def _colour_video(path: Path, colours: list[tuple[int, int, int]], seconds_each: float = 1.0, fps: int = 10) -> Path:
    frames = [Image.new("RGB", (64, 48), c) for c in colours for _ in range(int(seconds_each * fps))]
    media.write_video(path, frames, fps, (64, 48), {"g": str(fps)})
    return path


def test_video_frames_by_time(tmp_path):
    path = _colour_video(tmp_path / "c.mp4", [(220, 30, 30), (30, 200, 60), (30, 60, 220)])
    red, green, blue = (media.video_frame(path, t).getpixel((32, 24)) for t in (0.0, 1.5, 2.5))
    assert red[0] > 180 and green[1] > 160 and blue[2] > 180, (red, green, blue)
    info, times, frames = media.read_video_frames(path, lambda im: im.getpixel((32, 24)), 1.0)
    assert times == pytest.approx([0.0, 1.0, 2.0], abs=1e-3), "sampled until no frame is left"
    assert (info.width, info.height) == (64, 48) and info.duration == pytest.approx(3.0, abs=0.15)
    assert [np.argmax(f) for f in frames] == [0, 1, 2]
    with pytest.raises(DecodeError, match="no frame at 9.0 s"):
        media.video_frame(path, 9.0)
    with pytest.raises(DecodeError, match="more than the limit"):
        media.read_video_frames(path, lambda im: im, 1.0, limits=Limits(max_pixels=1000))


def test_thumbnails_and_clips(tmp_path):
    Image.new("RGB", (900, 600), (200, 10, 10)).save(tmp_path / "p.jpg")
    thumb = Image.open(io.BytesIO(media.thumbnail(tmp_path / "p.jpg", "image", 128)))
    assert thumb.format == "JPEG" and thumb.size == (128, 85)
    path = _colour_video(tmp_path / "c.mp4", [(220, 30, 30), (30, 60, 220)], seconds_each=2.0)
    frame = Image.open(io.BytesIO(media.thumbnail(path, "video", 256, at=3.0)))
    assert frame.getpixel((10, 10))[2] > 180, "the frame at 3 s is blue"
    clip = tmp_path / "cut.mp4"
    clip.write_bytes(media.cut_clip(path, 2.0, 3.0))
    _, times, _ = media.read_video_frames(clip, lambda im: None, 0.5)
    assert 0 < len(times) <= 6


def test_one_list_of_media_suffixes():
    assert {".heic", ".heif", ".jpg", ".png"} <= media.IMAGE_SUFFIXES
    assert zeroshot.IMAGE_SUFFIXES is media.IMAGE_SUFFIXES
    assert media.media_kind("a/B.HEIC") == "image" and media.media_kind("x.mov") == "video"
    assert media.media_kind("notes.txt") is None


def test_no_module_outside_media_opens_media_files():
    """Every image and video is opened by zhclip.media (limits, orientation, HEIC apply everywhere)."""
    opener = re.compile(r"\bImage\.open\(|\bav\.open\(|register_heif_opener\(")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "media" not in path.relative_to(SRC).parts[:1] and opener.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_media_imports_only_errors_and_third_party_libraries():
    relative = re.compile(r"^\s*from\s+(\.[\w.]*)\s+import", re.M)
    for path in (SRC / "media").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "zhclip" not in "".join(re.findall(r"^\s*(?:from|import)\s+\S+", text, re.M)), path
        for module in relative.findall(text):
            assert module == "..errors" or not module.startswith(".."), (path, module)
