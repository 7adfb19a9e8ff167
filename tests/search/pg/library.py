"""One small library written the same way into any store (SQLite `Store` or PostgreSQL `PgStore`): contents
with random unit vectors, files in folders with awkward names and dates, and text lines of every source."""

from __future__ import annotations

import numpy as np

from zhclip.media import MediaInfo
from zhclip.search.scan import ScannedFile
from zhclip.search.text.lines import TextLine

DIM = 16
DAY = 86_400.0
WORDS = [
    "海报",
    "设计",
    "北京",
    "背景",
    "欢迎",
    "会议",
    "纪要",
    "手机",
    "发票",
    "价格",
    "火车",
    "南站",
    "登机牌",
    "晚会",
]
ODD_FOLDERS = ["plain", "it's", '"quoted"', "100%", "a_b", "back\\slash", "percent%_mix"]


def lines_of(rng: np.random.Generator, count: int) -> list[str]:
    """Lines of 1-4 words of WORDS, some with Latin letters, digits and symbols between."""
    extras = ["", "", " iPhone15", "¥12", " 2024年", "OK", "：", "FastAPI文档"]
    return [
        "".join(rng.choice(WORDS, size=rng.integers(1, 5))) + str(rng.choice(extras)) + "".join(rng.choice(WORDS, 1))
        for _ in range(count)
    ]


def fill(store, save_lines, contents: int = 40, seed: int = 0) -> np.ndarray:
    """Write the library into `store` with `save_lines` (its store's); the vectors written, float16."""
    rng = np.random.default_rng(seed)
    texts = lines_of(rng, contents * 3)
    written = []
    with store.transaction():
        for n in range(contents):
            kind = "video" if n % 4 == 0 else "image"
            frames = 3 if kind == "video" else 1
            vectors = rng.normal(size=(frames, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            times = [1.5 * i for i in range(frames)] if kind == "video" else [None]
            info = MediaInfo(64, 48, 4.5 if kind == "video" else None, 1.7e9 + n * 40 * DAY if n % 3 else None)
            shots = [0.0, 2.0] if kind == "video" else None
            content_id = store.add_content(f"hash{n}", kind, info, times, vectors, shots)
            written.append(vectors.astype(np.float16))
            folder = ODD_FOLDERS[n % len(ODD_FOLDERS)]
            mtime_ns = int((1.6e9 + n * 17 * DAY) * 1e9)
            store.put_file(ScannedFile(f"/lib/{folder}/file{n}.jpg", 1000 + n, mtime_ns, kind), content_id)
            for source, start in (("ocr", None if kind == "image" else 1.5), ("speech", 0.5)):
                chosen = texts[3 * n : 3 * n + (2 if source == "ocr" else 1)]
                lines = [TextLine(t, start, None if source == "ocr" else start + 1, 0.5 + (n % 5) / 10) for t in chosen]
                save_lines(store.conn, content_id, source, lines, signature=f"sig{n}" if source == "speech" else None)
        store.bump_generation()
    return np.concatenate(written)
