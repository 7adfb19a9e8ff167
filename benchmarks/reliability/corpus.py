"""Hostile and odd files: each case makes one file (or link, or folder) in a library and says what indexing
must do with it: index it, or skip it with a reason containing a given phrase."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tests.search.media import photo, png_bomb, video

INDEXED = "indexed"
SIZE_LIMIT = 512 << 20  # DecodeOptions.max_image_bytes
VFR_MOMENTS_MS = (0, 40, 80, 1000, 1040, 2600, 2640, 2680, 4100, 5900)  # frames of the variable-rate videos


@dataclass(frozen=True)
class Case:
    name: str  # path relative to the library (str; a non-UTF-8 name is surrogate-escaped)
    make: Callable[[Path], None]  # creates the file at the given path
    expect: str  # INDEXED, or a phrase the logged skip reason contains


def _jpeg(seed: int, size: tuple[int, int] = (160, 120), **save) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (6, 8, 3), np.uint8)).resize(size).save(out, "JPEG", **save)
    return out.getvalue()


def _png16(path: Path, channels: int) -> None:
    """A 16-bit PNG written by hand (grey ramp or RGB ramp; PIL cannot write 16-bit RGB)."""
    w, h = 160, 120
    ramp = np.linspace(0, 65535, w * h * channels).reshape(h, w * channels).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in ramp)
    header = struct.pack(">IIBBBBB", w, h, 16, 0 if channels == 1 else 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _gif_bomb(path: Path) -> None:
    """A GIF whose logical screen and frame claim 65535 x 65535 pixels."""
    frame = _gif_bytes(Image.new("P", (8, 8)))
    path.write_bytes(
        frame[:6]
        + struct.pack("<HH", 65535, 65535)
        + frame[10:].replace(b",\x00\x00\x00\x00\x08\x00\x08\x00", b",\x00\x00\x00\x00\xff\xff\xff\xff", 1)
    )


def _gif_bytes(image: Image.Image, **save) -> bytes:
    out = io.BytesIO()
    image.save(out, "GIF", **save)
    return out.getvalue()


def _animated_gif(path: Path) -> None:
    frames = [Image.new("RGB", (120, 90), color) for color in ("red", "green", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _size_bomb(path: Path) -> None:
    """A sparse file just over the image size limit (takes no disk space): a JPEG header, then zeros."""
    with open(path, "wb") as fh:
        fh.write(_jpeg(1))
        fh.truncate(SIZE_LIMIT + (1 << 20))


def _exif(orientation: int | None = None, garbage: bool = False) -> bytes:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    raw = exif.tobytes()
    return raw[:10] + os.urandom(40) if garbage else raw


def _audio_only(path: Path) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _variable_frame_rate(path: Path) -> None:
    """Frames at irregular moments (bursts, then gaps of a second and more) until 5.9 s."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, ms in enumerate(VFR_MOMENTS_MS):
            frame = av.VideoFrame.from_ndarray(np.full((96, 128, 3), 25 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _good_video_bytes(path: Path) -> bytes:
    video(path, ["red", "blue"], seconds_each=1.0)
    data = path.read_bytes()
    path.unlink()
    return data


def _long_path(path: Path) -> None:
    """Nested folders past PATH_MAX (4096), made relative to folder descriptors, with a photo at the end."""
    path.mkdir()
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(24):
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, _jpeg(7))
        os.close(out)
    finally:
        os.close(fd)


def _write(data: Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data())


def _saved(image: Callable[[], Image.Image], fmt: str, **save) -> Callable[[Path], None]:
    return lambda path: image().save(path, fmt, **save)


NON_UTF8 = os.fsdecode(b"caf\xe9-latin1.jpg")

CASES: tuple[Case, ...] = (
    Case("zero-byte.jpg", _write(lambda: b""), "empty"),
    Case("truncated.jpg", _write(lambda: _jpeg(2, (320, 240))[:3000]), "truncated"),
    Case("text-named.jpg", _write(lambda: b"this is not a photo\n" * 50), "not an image"),
    Case("png-named.jpg", _saved(lambda: Image.new("RGB", (160, 120), "teal"), "PNG"), INDEXED),
    Case("video-named.jpg", lambda p: p.write_bytes(_good_video_bytes(p.with_suffix(".tmp.mp4"))), "not an image"),
    Case("photo-named.mp4", _write(lambda: _jpeg(3)), INDEXED),
    Case("pixel-bomb.png", png_bomb, "decompression bomb"),
    Case("pixel-bomb.gif", _gif_bomb, "decompression bomb"),
    Case("size-bomb.jpg", _size_bomb, "larger than the limit"),
    Case("animated.gif", _animated_gif, INDEXED),
    Case("cmyk.jpg", _saved(lambda: Image.new("CMYK", (160, 120), (0, 200, 30, 10)), "JPEG"), INDEXED),
    Case("grey-16bit.png", lambda p: _png16(p, 1), INDEXED),
    Case("rgb-16bit.png", lambda p: _png16(p, 3), INDEXED),
    Case("palette-transparent.png", _saved(lambda: Image.new("P", (160, 120), 3), "PNG", transparency=3), INDEXED),
    Case("exif-rotated.jpg", _write(lambda: _jpeg(4, exif=_exif(6))), INDEXED),
    Case("exif-garbage.jpg", _write(lambda: _jpeg(5, exif=_exif(3, garbage=True))), INDEXED),
    Case("panorama.jpg", _saved(lambda: Image.new("RGB", (30_000, 300), "navy"), "JPEG", quality=60), INDEXED),
    Case("too-small.png", _saved(lambda: Image.new("RGB", (20, 20), "red"), "PNG"), "smaller than"),
    Case("audio-only.mp4", _audio_only, "no video stream"),
    Case("variable-rate.mkv", _variable_frame_rate, INDEXED),
    Case("short-header.mp4", _variable_frame_rate, INDEXED),  # the same frames; MP4 says 2.8 s of 5.9
    Case(
        "corrupt-container.mp4",
        lambda p: p.write_bytes(_good_video_bytes(p)[:48] + os.urandom(6000)),
        "cannot decode video",
    ),
    Case("truncated-video.mp4", lambda p: p.write_bytes(_good_video_bytes(p)[:2500]), "cannot decode video"),
    Case("海边的日落 (1).jpg", lambda p: photo(p, 8), INDEXED),
    Case(NON_UTF8, _write(lambda: _jpeg(9)), "UTF-8"),
    Case("long-path", _long_path, "too long"),
    Case("loop.jpg", lambda p: os.symlink(p.name, p), "symbolic link"),
    Case("outside.jpg", lambda p: os.symlink("/etc/passwd", p), "symbolic link"),
)


def make_corpus(folder: Path, cases: tuple[Case, ...] = CASES) -> dict[str, Case]:
    """Every case made under `folder`; path -> case."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for case in cases:
        path = folder / case.name
        case.make(path)
        made[str(path)] = case
    return made


@dataclass(frozen=True)
class Outcome:
    case: Case
    got: str  # INDEXED, or the logged reason, or "" when the file was neither indexed nor reported

    @property
    def ok(self) -> bool:
        return self.got == INDEXED if self.case.expect == INDEXED else self.case.expect in self.got


def outcomes(made: dict[str, Case], indexed: set[str], failed: list[tuple[str, str]]) -> list[Outcome]:
    """What happened to each case: a failure reported for it (or for something under it), or its row."""
    result = []
    for path, case in made.items():
        reasons = [reason for p, reason in failed if _under(p, path)]
        hit = any(_under(p, path) for p in indexed)
        result.append(Outcome(case, INDEXED if hit and not reasons else "; ".join(reasons)))
    return result


def _under(path: str, top: str) -> bool:
    """`path` is `top` or inside it; undecodable bytes (surrogates) match whatever a report put there."""
    path, top = _comparable(path), _comparable(top)
    return path == top or path.startswith(top + os.sep.encode())


def _comparable(path: str) -> bytes:
    return path.encode("utf-8", "replace")
