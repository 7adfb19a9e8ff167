"""OCR quality and speed: character accuracy, recall@1/@5 of `--match ocr` and `--match hybrid` for substring
queries, false hits on text-free photos, ms per image, indexing speed with and without OCR, and the cost of
the text lookup (FTS5 trigram index for 3+ characters, single-character FTS5 index for 1-2) against an
`instr` scan of every line.

    PYTHONPATH=src python -m benchmarks.ocr_quality --out benchmarks/results/ocr_quality.md

Images come from benchmarks/ocr_images.py (Noto CJK phrases on photo-like backgrounds, 1280x720 JPEG).
Recall: for each size, each phrase is searched by a substring that no other phrase holds (the whole phrase
when short), with a path filter to that size's images, so exactly one file is relevant. CLIP ranking uses the
demo model (trained on shapes, not on text): hybrid shows what fusion keeps of the OCR ranking, not a CLIP
that reads. A table is labelled "measured under load" when the 1-minute load average exceeds the core count.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from dataclasses import replace
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from benchmarks.ocr_images import (
    BACKGROUNDS,
    FONTS,
    PALETTE,
    PHRASES,
    ROTATIONS,
    SIZES,
    background,
    draw_phrase,
    make_caption_video,
    make_ocr_set,
)
from zhclip.search import (
    Filters,
    IndexOptions,
    Library,
    MediaEncoder,
    Query,
    Reader,
    Searcher,
    Store,
    index_library,
)
from zhclip.search.ocr import OcrEngine, OcrOptions
from zhclip.search.ocr.lines import FrameLines, save_ocr
from zhclip.search.ocr.reading import read_image
from zhclip.search.ranking import search as matched_search
from zhclip.search.text.lines import find_lines

FONTS_NOTE = "Fonts: Noto Sans CJK SC and Noto Serif CJK SC, Regular and Bold (Debian fonts-noto-cjk)"
DEMO_MODEL = Path(__file__).resolve().parent.parent / "src" / "zhclip" / "assets" / "demo_model.pt"


def load_note() -> str:
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    tag = "measured under load" if load > cores else "quiet machine"
    return f"{tag} (load average {load:.1f} on {cores} cores)"


def query_for(phrase: str) -> str:
    """A substring of `phrase` that no other phrase holds (3 characters where possible)."""
    for width in (3, 2, 4):
        for start in range(len(phrase) - width + 1):
            part = phrase[start : start + width]
            if sum(part in p for p in PHRASES) == 1:
                return part
    return phrase


def char_accuracy(truth: str, lines: list[str]) -> float:
    """1 - edit distance / length, against the line that reads most like `truth` (0 when nothing was read)."""
    return max((_similarity(truth, line) for line in lines), default=0.0)


def _similarity(truth: str, line: str) -> float:
    ops = SequenceMatcher(None, truth, line, autojunk=False).get_opcodes()
    errors = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
    return max(0.0, 1.0 - errors / len(truth))


def read_all(folder: Path, samples, engine: OcrEngine) -> list[tuple[str, list, list]]:
    """Per group (each text size, then the text-free photos): its name, samples, and what `_read` gave."""
    groups = [(f"{s} px", [x for x in samples if x.size == s]) for s in SIZES]
    groups.append(("text-free", [x for x in samples if x.phrase is None]))
    return [(name, group, [_read(engine, folder, sample) for sample in group]) for name, group in groups]


def engine_table(groups: list[tuple[str, list, list]]) -> list[str]:
    """Per size: character accuracy, exact reads, ms/image; text-free photos: lines read (false text), ms."""
    rows = []
    for name, group, reads in groups:
        cpu, ms = np.median([r[1] for r in reads]), np.median([r[2] for r in reads])
        if group[0].phrase:
            accuracy = np.mean([char_accuracy(s.phrase, r[0]) for s, r in zip(group, reads, strict=True)])
            exact = sum(_read_exactly(s, r[0]) for s, r in zip(group, reads, strict=True))
            rows.append(f"| {name} | {len(group)} | {accuracy:.3f} | {exact}/{len(group)} | - | {cpu:.0f} | {ms:.0f} |")
        else:
            lines = sum(len(r[0]) for r in reads)
            rows.append(f"| {name} | {len(group)} | - | - | {lines} | {cpu:.0f} | {ms:.0f} |")
    return rows


def screen_table(screened: list[tuple[str, list, list]], full: list[tuple[str, list, list]]) -> list[str]:
    """Per size: images the pre-screen stopped (for text images: false rejects), phrases read exactly with and
    without the pre-screen, those only one of the two read, and the median CPU ms of each."""
    rows = []
    for (name, group, with_reads), (_, _, without_reads) in zip(screened, full, strict=True):
        stopped = sum(r[3] == 1 for r in with_reads)
        with_screen = [_read_exactly(s, r[0]) for s, r in zip(group, with_reads, strict=True)]
        without = [_read_exactly(s, r[0]) for s, r in zip(group, without_reads, strict=True)]
        lost = sum(b and not a for a, b in zip(with_screen, without, strict=True))
        gained = sum(a and not b for a, b in zip(with_screen, without, strict=True))
        rows.append(
            f"| {name} | {len(group)} | {stopped} | {sum(without)} | {sum(with_screen)} | {lost} | {gained} "
            f"| {np.median([r[1] for r in without_reads]):.0f} | {np.median([r[1] for r in with_reads]):.0f} |"
        )
    return rows


def _read(engine: OcrEngine, folder: Path, sample) -> tuple[list[str], float, float, int]:
    """The lines read in `sample`'s file, CPU ms, wall ms, detector passes."""
    passes, started, cpu_started = engine.detector_calls, time.perf_counter(), time.process_time()
    frame = read_image(engine, folder / sample.file)
    cpu, ms = 1000 * (time.process_time() - cpu_started), 1000 * (time.perf_counter() - started)
    return [line.text for line in frame.lines], cpu, ms, engine.detector_calls - passes


def _read_exactly(sample, texts: list[str]) -> bool:
    return sample.phrase is not None and any(sample.phrase in text for text in texts)


def full_hd_timing(folder: Path, samples, engine: OcrEngine, count: int = 20) -> dict[str, float]:
    """Median CPU ms/image for 1920x1080 photos with text (32 px at 720p, 48 px here) and without."""
    from PIL import Image

    medians = {}
    for name, group in (
        ("with text", [s for s in samples if s.size == 32]),
        ("text-free", [s for s in samples if s.phrase is None]),
    ):
        ms = []
        for sample in group[:count]:
            image = np.asarray(
                Image.open(folder / sample.file).convert("RGB").resize((1920, 1080), Image.Resampling.BICUBIC)
            )
            started = time.process_time()
            engine.read(image)
            ms.append(1000 * (time.process_time() - started))
        medians[name] = float(np.median(ms))
    return medians


def recall_table(db: Path, samples, encoder: MediaEncoder) -> tuple[list[str], int]:
    searcher = Searcher(Library(Reader(db), encoder))
    rows, false_hits = [], 0
    plain = {s.file for s in samples if s.phrase is None}
    for size in SIZES:
        group = [s for s in samples if s.size == size]
        cells = []
        for match in ("ocr", "hybrid"):
            ranks = []
            for sample in group:
                query = Query(text=query_for(sample.phrase), filters=Filters(path_contains=f"_{size}px_"), top=5)
                names = [Path(r.path).name for r in matched_search(searcher, query, match)]
                ranks.append(names.index(sample.file) + 1 if sample.file in names else None)
            cells += [_recall(ranks, 1), _recall(ranks, 5)]
        rows.append(f"| {size} px | {len(group)} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    for phrase in PHRASES:  # every query over the whole library: no text-free photo may come back
        query = Query(text=query_for(phrase), top=50)
        false_hits += sum(Path(r.path).name in plain for r in matched_search(searcher, query, "ocr"))
    return rows, false_hits


def _recall(ranks: list[int | None], k: int) -> float:
    return sum(r is not None and r <= k for r in ranks) / len(ranks)


def video_check(folder: Path, encoder: MediaEncoder, ocr_options: OcrOptions) -> str:
    video = make_caption_video(folder / "video" / "caption.mp4", "会议纪要", shown=(4.0, 8.0))
    db = folder / "video.db"
    index_library(db, [video.parent], encoder, IndexOptions(ocr=True, ocr_options=ocr_options))
    results = matched_search(Searcher(Library(Reader(db), encoder)), Query(text="纪要", top=3), "ocr")
    found = [f"[{r.start:.0f}, {r.end:.0f}) s 「{r.ocr['text']}」" for r in results]
    return f"caption 「会议纪要」 burned in for [4, 8) s of a 12 s video; query 纪要 -> {', '.join(found) or 'nothing'}"


def index_speed(folder: Path, encoder: MediaEncoder, ocr_options: OcrOptions) -> list[str]:
    """The same photos indexed into a fresh library without OCR, then with it (wall and process CPU time)."""
    rows = []
    for ocr in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            cpu = _cpu_with_children()
            options = IndexOptions(ocr=ocr, ocr_options=ocr_options)
            summary = index_library(Path(tmp) / "lib.db", [folder], encoder, options)
            cpu = _cpu_with_children() - cpu
        files = summary.new
        rows.append(
            f"| {'CLIP + OCR' if ocr else 'CLIP only'} | {files} | {summary.seconds:.1f} | "
            f"{1000 * summary.seconds / files:.0f} | {cpu:.1f} | {1000 * cpu / files:.0f} |"
        )
    return rows


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (the decoding workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def fts_table(lines: int, seed: int = 0) -> list[str]:
    """Lookup time for 1-4 character queries over `lines` random Chinese lines: `find_lines` (the indexes,
    exact and partial matches) against a plain `instr` scan for the exact ones."""
    rng = np.random.default_rng(seed)
    alphabet = list(dict.fromkeys("".join(PHRASES)))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fts.db"
        store = Store(db)
        with store.transaction():
            for start in range(0, lines, 10):
                content = store.conn.execute(
                    "INSERT INTO contents(hash, kind) VALUES (?, 'image')", (f"{start:032x}",)
                ).lastrowid
                store.conn.execute(
                    "INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES (?, 1, 1, ?, 0)",
                    (f"/p/{start}.jpg", content),
                )
                frame = FrameLines(None, [_random_line(rng, alphabet) for _ in range(10)], 100, 100)
                save_ocr(store.conn, content, [frame], None)
        store.close()
        conn = sqlite3.connect(db)
        rows = []
        for length in (1, 2, 3, 4):
            queries = ["".join(rng.choice(alphabet, length)) for _ in range(20)]
            started = time.perf_counter()
            found = [len(find_lines(conn, "ocr", q, Filters(), limit=50)) for q in queries]
            ms = 1000 * (time.perf_counter() - started) / len(queries)
            started = time.perf_counter()
            for q in queries:
                conn.execute(
                    "SELECT id FROM text_lines WHERE instr(key, ?) > 0 ORDER BY confidence DESC LIMIT 50", (q,)
                ).fetchall()
            scan_ms = 1000 * (time.perf_counter() - started) / len(queries)
            how = "trigram index (+ partial)" if length >= 3 else "character index"
            rows.append(f"| {length} | {how} | {ms:.1f} | {scan_ms:.1f} | {np.mean(found):.1f} |")
        conn.close()
    return rows


def _random_line(rng, alphabet):
    from zhclip.search.ocr import OcrLine

    text = "".join(rng.choice(alphabet, int(rng.integers(2, 12))))
    return OcrLine(text, ((0, 0), (10, 0), (10, 5), (0, 5)), 0.95)


def native_hd_table(engine: OcrEngine, unscreened: OcrEngine, per_size: int = 20, seed: int = 5) -> list[str]:
    """Phrases drawn at each size straight onto 1920x1080 backgrounds (the pre-screen sees them at 1/3 of
    their size, not 1/2 as in the 1280x720 set), read with and without the pre-screen; then text-free ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for size in SIZES:
        counts, cpu = np.zeros(4, int), []
        for i in range(per_size):
            image = background(BACKGROUNDS[i % len(BACKGROUNDS)], rng, (1920, 1080))
            phrase, font = PHRASES[(i + size) % len(PHRASES)], list(FONTS)[i % len(FONTS)]
            draw_phrase(image, phrase, size, font, int(rng.integers(len(PALETTE))), ROTATIONS[i % len(ROTATIONS)], rng)
            pixels, passes, started = np.asarray(image), engine.detector_calls, time.process_time()
            with_screen = any(phrase in line.text for line in engine.read(pixels))
            cpu.append(1000 * (time.process_time() - started))
            without = any(phrase in line.text for line in unscreened.read(pixels))
            counts += [engine.detector_calls - passes == 1, without, with_screen, without and not with_screen]
        rows.append(f"| {size} px | {per_size} | " + " | ".join(map(str, counts)) + f" | {np.median(cpu):.0f} |")
    cpu = []
    for i in range(per_size):
        pixels = np.asarray(background(BACKGROUNDS[i % len(BACKGROUNDS)], rng, (1920, 1080)))
        started = time.process_time()
        engine.read(pixels)
        cpu.append(1000 * (time.process_time() - started))
    spread = f"{np.median(cpu):.0f} (90th percentile {np.percentile(cpu, 90):.0f})"
    rows.append(f"| text-free | {per_size} | - | - | - | - | {spread} |")
    return rows


def reading_section(folder: Path, samples, options: OcrOptions) -> list[str]:
    engine, unscreened = OcrEngine(options), OcrEngine(replace(options, screen_side=0))
    screened, full = read_all(folder, samples, engine), read_all(folder, samples, unscreened)
    recoloured = sum(s.recoloured for s in samples)
    report = [
        "## Reading (engine)",
        "",
        f"{FONTS_NOTE}; {recoloured} of {sum(bool(s.phrase) for s in samples)} phrases re-coloured for contrast",
    ]
    report += [
        "(benchmarks/ocr_images.py: plain text needs WCAG contrast >= 3 against the background under "
        "90% of its glyph pixels; results here before that rule came from a set with black text on a black cap).",
        "",
    ]
    report += ["CPU ms: process CPU time per image, JPEG decoding included (1 ONNX thread); wall ms: " + load_note()]
    report += ["", "| text | images | char accuracy | phrase read exactly | lines on text-free | CPU ms | wall ms |"]
    report += ["|---|---|---|---|---|---|---|", *engine_table(screened), ""]
    report += ["### The pre-screen", "", f"Detection first at {options.screen_side} px (threshold"]
    report += [f"{options.screen_threshold}), full detection ({options.det_side} px) only on the bands it passes;"]
    report += [
        "'stopped': images it stopped, with no full detection (for text images: false rejects); 'lost'/'gained':"
    ]
    report += ["phrases read exactly only without / only with it.", ""]
    report += ["| text | images | stopped | read without | read with | lost | gained | CPU ms without | CPU ms with |"]
    report += ["|---|---|---|---|---|---|---|---|---|", *screen_table(screened, full), ""]
    report += [
        "1920x1080 photos (the 32 px and text-free images scaled up), "
        "median CPU ms of reading decoded pixels (20 each):",
        "",
    ]
    report += ["| engine | with text | text-free |", "|---|---|---|"]
    for name, reader in (("with pre-screen", engine), ("without pre-screen", unscreened)):
        medians = full_hd_timing(folder, samples, reader)
        report += [f"| {name} | {medians['with text']:.0f} | {medians['text-free']:.0f} |"]
    report += ["", "Drawn at 1920x1080 (the sizes below are px in the 1080p image), CPU ms with the pre-screen:", ""]
    report += [
        "| text | images | stopped | read without | read with | lost | CPU ms |",
        "|---|---|---|---|---|---|---|",
    ]
    return [*report, *native_hd_table(engine, unscreened), ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-size", type=int, default=40, help="phrase images per text size")
    parser.add_argument("--text-free", type=int, default=40)
    parser.add_argument("--fts-lines", type=int, default=200_000)
    parser.add_argument("--det-side", type=int, default=OcrOptions().det_side, help="longest side detection sees")
    parser.add_argument("--folder", type=Path, help="where to write the images (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = parser.parse_args()
    import zhclip

    folder = args.folder or Path(tempfile.mkdtemp(prefix="zhclip-ocr-"))
    samples = make_ocr_set(folder / "images", per_size=args.per_size, text_free=args.text_free)
    encoder = MediaEncoder(zhclip.load(DEMO_MODEL, device="cpu", precision="fp32"))
    ocr_options = OcrOptions(det_side=args.det_side)
    report = [f"# OCR quality ({load_note()} at start)", "", f"Options: {ocr_options}", ""]
    report += reading_section(folder / "images", samples, ocr_options)
    db = folder / "library.db"
    index_library(db, [folder / "images"], encoder, IndexOptions(ocr=True, ocr_options=ocr_options))
    rows, false_hits = recall_table(db, samples, encoder)
    report += ["## Finding (library, substring queries)", ""]
    report += ["| text | queries | ocr R@1 | ocr R@5 | hybrid R@1 | hybrid R@5 |", "|---|---|---|---|---|---|", *rows]
    report += ["", f"False hits on text-free photos (--match ocr, {len(PHRASES)} queries, top 50): {false_hits}", ""]
    report += ["## Video", "", video_check(folder, encoder, ocr_options), ""]
    report += ["## Indexing speed, same photos", "", load_note() + "; CPU: this process and its workers", ""]
    report += ["| run | files | wall s | wall ms/file | CPU s | CPU ms/file |", "|---|---|---|---|---|---|"]
    report += [*index_speed(folder / "images", encoder, ocr_options), ""]
    report += ["## Text lookup", "", f"{args.fts_lines} lines; {load_note()}", ""]
    report += ["| query chars | index | ms/query | instr scan ms/query | lines found |", "|---|---|---|---|---|"]
    report += [*fts_table(args.fts_lines), "", f"({load_note()} at the end)"]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        (args.out.with_suffix(".json")).write_text(json.dumps({"false_hits": false_hits}), encoding="utf-8")


if __name__ == "__main__":
    main()
