"""Small media files for tests: photos, videos with known content, and broken files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 60, 220), "yellow": (240, 220, 40)}


def photo(path: Path, seed: int, size: tuple[int, int] = (160, 120), exif: Image.Exif | None = None) -> Path:
    """A random-blocks photo (different seeds give clearly different pictures)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **({"exif": exif.tobytes()} if exif is not None else {}))
    return path


def solid(path: Path, color: str, size: tuple[int, int] = (160, 120)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, COLORS[color]).save(path)
    return path


def video(
    path: Path, colors: list[str], seconds_each: float = 2.0, fps: int = 10, size: tuple[int, int] = (128, 96)
) -> Path:
    """An H.264 MP4 showing each colour in turn for `seconds_each`, with a moving white bar."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"g": str(fps)})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        n = 0
        for color in colors:
            for _ in range(int(seconds_each * fps)):
                frame = np.empty((size[1], size[0], 3), np.uint8)
                frame[:] = COLORS[color]
                x = (n * 3) % (size[0] - 10)
                frame[:10, x : x + 10] = 255
                n += 1
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def png_bomb(path: Path, width: int = 40_000, height: int = 40_000) -> Path:
    """A tiny PNG whose header claims a huge image (a decompression bomb as far as any decoder can tell)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def bad_files(folder: Path) -> dict[str, str]:
    """Broken files of every kind the indexer must skip: name -> a word its reason contains."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.jpg").write_bytes(b"")
    good = photo(folder / "full.jpg", 99, (320, 240)).read_bytes()
    (folder / "full.jpg").unlink()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "notes.jpg").write_text("this is a text file, not a photo")
    png_bomb(folder / "bomb.png")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    solid(folder / "tiny.png", "red", (20, 20))
    return {
        "zero.jpg": "empty",
        "truncated.jpg": "truncated",
        "notes.jpg": "not an image",
        "bomb.png": "bomb",
        "broken.mp4": "video",
        "tiny.png": "smaller",
    }
