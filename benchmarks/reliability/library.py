"""Libraries to test against: a mixed photo/video folder, a synthetic 100k-item store, and what a library
holds (files and their vectors) so that two runs can be compared and integrity checked."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tests.search.media import photo, video

from zhclip.search import LibraryMeta, MediaInfo, ModelIdentity, Store
from zhclip.search.scan import ScannedFile

COLORS = ("red", "green", "blue", "yellow")


def mixed_library(folder: Path, photos: int, videos: int, seed: int = 0) -> Path:
    """`photos` random-block JPEG/PNG photos (a few duplicates) and `videos` short H.264 videos."""
    for i in range(photos):
        photo(folder / f"photos/{i // 50:02d}/p{i:04d}.{'png' if i % 7 == 3 else 'jpg'}", seed * 100_000 + i)
    for i in range(0, photos, 25):  # identical content under another name: encoded once, shared
        source = next(folder.glob(f"photos/*/p{i:04d}.*"))
        (folder / "copies").mkdir(parents=True, exist_ok=True)
        (folder / "copies" / f"copy_{source.name}").write_bytes(source.read_bytes())
    for i in range(videos):
        rotation = [COLORS[(i + k) % len(COLORS)] for k in range(3)]
        video(folder / f"videos/v{i:03d}.mp4", rotation, seconds_each=1.5)
    return folder


# ------------------------------------------------------------------ what a library holds


@dataclass(frozen=True)
class Entry:
    hash: str
    kind: str
    times: tuple[float | None, ...]
    vectors: np.ndarray  # float16 rows


def snapshot(db: Path) -> dict[str, Entry]:
    """path -> its content (hash, kind, frame times, vectors), read straight from SQLite."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT f.path, c.hash, c.kind, v.t, v.vector FROM files f JOIN contents c "
            "ON c.id = f.content_id JOIN vectors v ON v.content_id = c.id ORDER BY f.path, v.t"
        )
        grouped: dict[str, list] = {}
        for path, digest, kind, t, blob in rows:
            grouped.setdefault(path, []).append((digest, kind, t, blob))
    finally:
        conn.close()
    return {
        path: Entry(
            items[0][0],
            items[0][1],
            tuple(i[2] for i in items),
            np.stack([np.frombuffer(i[3], np.float16) for i in items]),
        )
        for path, items in grouped.items()
    }


@dataclass
class Difference:
    missing: list[str]  # in the reference, not in the other library
    extra: list[str]
    changed: list[str]  # other content, frame times or vectors
    max_vector_diff: float

    @property
    def same(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def describe(self) -> str:
        return (
            f"missing {self.missing[:3]} ({len(self.missing)}), extra {self.extra[:3]} ({len(self.extra)}), "
            f"changed {self.changed[:3]} ({len(self.changed)}), max vector diff {self.max_vector_diff:.2g}"
        )


def compare(reference: dict[str, Entry], other: dict[str, Entry], atol: float = 2e-3) -> Difference:
    """Same files with the same content and vectors (within `atol`: batch composition may change the last
    float16 bit)."""
    common = sorted(reference.keys() & other.keys())
    changed, worst = [], 0.0
    for path in common:
        a, b = reference[path], other[path]
        if (a.hash, a.kind, a.times) != (b.hash, b.kind, b.times) or a.vectors.shape != b.vectors.shape:
            changed.append(path)
            continue
        diff = float(np.abs(a.vectors.astype(np.float32) - b.vectors.astype(np.float32)).max())
        worst = max(worst, diff)
        if diff > atol:
            changed.append(path)
    return Difference(sorted(reference.keys() - other.keys()), sorted(other.keys() - reference.keys()), changed, worst)


def integrity(db: Path) -> str:
    """'ok', or what SQLite's integrity and foreign key checks found ('ok' too when there is no file yet:
    a run killed before it created the library left nothing to check)."""
    if not db.exists():
        return "ok"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check")] + [
            f"foreign key {row}" for row in conn.execute("PRAGMA foreign_key_check")
        ]
        orphans = conn.execute("SELECT count(*) FROM contents WHERE id NOT IN (SELECT content_id FROM vectors)")
        if (n := orphans.fetchone()[0]) > 0:
            problems.append(f"{n} contents without vectors")
    finally:
        conn.close()
    return "ok" if problems == ["ok"] else "; ".join(problems)


# ------------------------------------------------------------------ synthetic libraries


def fill_synthetic(
    db: Path,
    identity: ModelIdentity,
    count: int,
    roots: list[Path],
    seed: int = 0,
    video_every: int = 50,
    frames: int = 5,
) -> None:
    """`count` files with random unit vectors through the store's own API (no decoding, no model): every
    `video_every`-th is a video with `frames` frames. Paths lie under /synthetic, outside `roots`, so a
    rescan of `roots` neither reads nor removes them."""

    rng = np.random.default_rng(seed)
    store = Store(db)
    try:
        with store.transaction():
            store.set_meta(LibraryMeta(identity, tuple(str(r) for r in roots)))
            for start in range(0, count, 10_000):
                _add_synthetic(
                    store, rng, identity.embed_dim, range(start, min(count, start + 10_000)), video_every, frames
                )
            store.bump_generation()
    finally:
        store.close()


def _add_synthetic(
    store: Store, rng: np.random.Generator, dim: int, numbers: range, video_every: int, frames: int
) -> None:
    for n in numbers:
        is_video = n % video_every == video_every - 1
        rows = frames if is_video else 1
        vectors = rng.standard_normal((rows, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        kind = "video" if is_video else "image"
        info = MediaInfo(640, 480, float(2 * rows) if is_video else None)
        times = [2.0 * i for i in range(rows)] if is_video else [None]
        digest = hashlib.blake2b(f"synthetic-{n}".encode(), digest_size=16).hexdigest()
        content_id = store.add_content(digest, kind, info, times, vectors)
        suffix = "mp4" if is_video else "jpg"
        store.put_file(ScannedFile(f"/synthetic/{n // 1000:03d}/{n:06d}.{suffix}", 1000 + n, n, kind), content_id)


def mutate(folder: Path, rng: np.random.Generator, round_: int) -> None:
    """What a library goes through between runs: new, deleted, renamed and rewritten photos."""
    photos = sorted(folder.glob("photos/*/*.jpg"))
    for i in range(3):
        photo(folder / f"added/r{round_:03d}_{i}.jpg", 900_000 + round_ * 10 + i)
    if len(photos) > 4:
        gone, moved, rewritten = (photos[int(j)] for j in rng.choice(len(photos), 3, replace=False))
        gone.unlink()
        moved.rename(moved.with_name(f"renamed_{round_:03d}_{moved.name}"))
        photo(rewritten, 800_000 + round_)
