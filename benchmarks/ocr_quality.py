"""OCR quality and speed: the engines side by side (character accuracy and exact reads by text size, lines
read in text-free photos, the CPU a text-free photo costs, ms per 1080p photo), then, for zhclip's engine,
recall@1/@5 of `--match ocr` and `--match hybrid` for substring queries, false hits on text-free photos,
indexing speed with and without OCR, and the cost of the text lookup (FTS5 trigram index for 3+ characters,
single-character FTS5 index for 1-2) against an `instr` scan of every line.

    PYTHONPATH=src python -m benchmarks.ocr_quality --out benchmarks/results/ocr_quality.md
    PYTHONPATH=src python -m benchmarks.ocr_quality --engine pp-ocrv6 --engine pp-ocrv4 --reading-only

Engines (`--engine`, repeatable; default: all three, read in the same run, image by image in turn so that a
change of load falls on all of them alike): `pp-ocrv6` (rapidocr 3.10's PP-OCRv6 small on ONNX Runtime,
zhclip's engine), `pp-ocrv6-openvino` (the same models on OpenVINO), `pp-ocrv4` (rapidocr-onnxruntime 1.4's
PP-OCRv4, zhclip's engine before: benchmarks/ocr_legacy.py). The results JSON goes to
benchmarks/results/machines/<kind>/ocr_quality.json (benchmarks/render_results.py renders it).

Images come from benchmarks/ocr_images.py (Noto CJK phrases on photo-like backgrounds, 1280x720 JPEG).
Recall: for each size, each phrase is searched by a substring that no other phrase holds (the whole phrase
when short), with a path filter to that size's images, so exactly one file is relevant. CLIP ranking uses the
demo model (trained on shapes, not on text): hybrid shows what fusion keeps of the OCR ranking, not a CLIP
that reads. A table is labelled "measured under load" when the 1-minute load average exceeds the core count.
"""

from __future__ import annotations

import argparse
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
from benchmarks.render_results import markdown_table
from benchmarks.results_json import save
from zhclip.bench.results import table
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
ENGINES = {
    "pp-ocrv6": "rapidocr 3.10, PP-OCRv6 small, ONNX Runtime",
    "pp-ocrv6-openvino": "rapidocr 3.10, PP-OCRv6 small, OpenVINO",
    "pp-ocrv4": "rapidocr-onnxruntime 1.4, PP-OCRv4, ONNX Runtime",
}
GROUPS = (*(f"{s} px" for s in SIZES), "text-free")


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


def make_engine(name: str, options: OcrOptions):
    """An engine of ENGINES with `options` (the old one takes the same cuts; it has no runtime choice)."""
    if name == "pp-ocrv4":
        from benchmarks.ocr_legacy import LegacyOcrEngine

        return LegacyOcrEngine(options)
    return OcrEngine(replace(options, runtime="openvino" if name.endswith("openvino") else "onnxruntime"))


def read_all(folder: Path, samples, engines: list) -> list[list[tuple[str, list, list]]]:
    """Per engine, per group (each text size, then the text-free photos): its name, samples, and what `_read`
    gave. Each image is read by every engine in turn before the next image."""
    groups = [(f"{s} px", [x for x in samples if x.size == s]) for s in SIZES]
    groups.append(("text-free", [x for x in samples if x.phrase is None]))
    reads: list[list[list]] = [[[] for _ in groups] for _ in engines]
    for g, (_, group) in enumerate(groups):
        for sample in group:
            for e, engine in enumerate(engines):
                reads[e][g].append(_read(engine, folder, sample))
    return [[(name, group, got) for (name, group), got in zip(groups, per_engine, strict=True)] for per_engine in reads]


def engine_rows(groups: list[tuple[str, list, list]]) -> list[list[str]]:
    """Per size: character accuracy, exact reads, ms/image; text-free photos: lines read (false text), ms."""
    rows = []
    for name, group, reads in groups:
        cpu, ms = f"{np.median([r[1] for r in reads]):.0f}", f"{np.median([r[2] for r in reads]):.0f}"
        if group[0].phrase:
            accuracy = np.mean([char_accuracy(s.phrase, r[0]) for s, r in zip(group, reads, strict=True)])
            exact = sum(_read_exactly(s, r[0]) for s, r in zip(group, reads, strict=True))
            rows.append([name, str(len(group)), f"{accuracy:.3f}", f"{exact}/{len(group)}", "-", cpu, ms])
        else:
            rows.append([name, str(len(group)), "-", "-", str(sum(len(r[0]) for r in reads)), cpu, ms])
    return rows


def screen_rows(screened: list[tuple[str, list, list]], full: list[tuple[str, list, list]]) -> list[list[str]]:
    """Per size: images the pre-screen stopped (for text images: false rejects), phrases read exactly with and
    without the pre-screen, those only one of the two read, and the median CPU ms of each."""
    rows = []
    for (name, group, with_reads), (_, _, without_reads) in zip(screened, full, strict=True):
        stopped = sum(r[3] == 1 for r in with_reads)
        with_screen = [_read_exactly(s, r[0]) for s, r in zip(group, with_reads, strict=True)]
        without = [_read_exactly(s, r[0]) for s, r in zip(group, without_reads, strict=True)]
        lost = sum(b and not a for a, b in zip(with_screen, without, strict=True))
        gained = sum(a and not b for a, b in zip(with_screen, without, strict=True))
        counts = [len(group), stopped, sum(without), sum(with_screen), lost, gained]
        cpu = [np.median([r[1] for r in reads]) for reads in (without_reads, with_reads)]
        rows.append([name, *map(str, counts), *(f"{ms:.0f}" for ms in cpu)])
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


def recall_table(db: Path, samples, encoder: MediaEncoder) -> tuple[list[list[str]], int]:
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
        rows.append([f"{size} px", str(len(group)), *(f"{c:.3f}" for c in cells)])
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


def index_speed(folder: Path, encoder: MediaEncoder, ocr_options: OcrOptions) -> list[list[str]]:
    """The same photos indexed into a fresh library without OCR, then with it (wall and process CPU time)."""
    rows = []
    for ocr in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            cpu = _cpu_with_children()
            options = IndexOptions(ocr=ocr, ocr_options=ocr_options)
            summary = index_library(Path(tmp) / "lib.db", [folder], encoder, options)
            cpu = _cpu_with_children() - cpu
        files = summary.new
        seconds = [
            f"{summary.seconds:.1f}",
            f"{1000 * summary.seconds / files:.0f}",
            f"{cpu:.1f}",
            f"{1000 * cpu / files:.0f}",
        ]
        rows.append(["CLIP + OCR" if ocr else "CLIP only", str(files), *seconds])
    return rows


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (the decoding workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def fts_table(lines: int, seed: int = 0) -> list[list[str]]:
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
                save_ocr(store, content, [frame], None)
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
            rows.append([str(length), how, f"{ms:.1f}", f"{scan_ms:.1f}", f"{np.mean(found):.1f}"])
        conn.close()
    return rows


def _random_line(rng, alphabet):
    from zhclip.search.ocr import OcrLine

    text = "".join(rng.choice(alphabet, int(rng.integers(2, 12))))
    return OcrLine(text, ((0, 0), (10, 0), (10, 5), (0, 5)), 0.95)


def native_hd_rows(engine, unscreened, per_size: int = 20, seed: int = 5) -> list[list[str]]:
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
        rows.append([f"{size} px", str(per_size), *map(str, counts), f"{np.median(cpu):.0f}"])
    cpu = []
    for i in range(per_size):
        pixels = np.asarray(background(BACKGROUNDS[i % len(BACKGROUNDS)], rng, (1920, 1080)))
        started = time.process_time()
        engine.read(pixels)
        cpu.append(1000 * (time.process_time() - started))
    rows.append(
        ["text-free", str(per_size), "-", "-", "-", "-", f"{np.median(cpu):.0f} (p90 {np.percentile(cpu, 90):.0f})"]
    )
    return rows


READ_COLUMNS = ["text", "images", "char accuracy", "phrase read exactly", "lines on text-free", "CPU ms", "wall ms"]
SCREEN_COLUMNS = ["text", "images", "stopped", "read without", "read with", "lost", "gained"]
SCREEN_COLUMNS += ["CPU ms without", "CPU ms with"]
HD_COLUMNS = ["photos", "CPU ms with pre-screen", "CPU ms without"]
NATIVE_COLUMNS = ["text", "images", "stopped", "read without", "read with", "lost", "CPU ms with pre-screen"]


def reading_tables(folder: Path, samples, options: OcrOptions, names: list[str]) -> tuple[list[dict], list[dict]]:
    """Per engine: its tables (JSON `table`s) and a summary of the figures the comparison table shows."""
    engines = {name: (make_engine(name, options), make_engine(name, replace(options, screen_side=0))) for name in names}
    reads = read_all(folder, samples, [engine for pair in engines.values() for engine in pair])
    tables, summaries = [], []
    for n, (name, (engine, unscreened)) in enumerate(engines.items()):
        screened, full = reads[2 * n], reads[2 * n + 1]
        label = ENGINES[name]
        hd = {
            screen: full_hd_timing(folder, samples, reader)
            for screen, reader in (("with", engine), ("without", unscreened))
        }
        native = native_hd_rows(engine, unscreened)
        tables += [
            table(f"{label}: 1280x720 photos, with the pre-screen", READ_COLUMNS, engine_rows(screened)),
            table(
                f"{label}: the pre-screen (stopped: no full detection; lost/gained: read only without/with it)",
                SCREEN_COLUMNS,
                screen_rows(screened, full),
            ),
            table(
                f"{label}: 1920x1080 photos (the 32 px and text-free sets scaled up), median CPU ms",
                HD_COLUMNS,
                [
                    [kind, f"{hd['with'][kind]:.0f}", f"{hd['without'][kind]:.0f}"]
                    for kind in ("with text", "text-free")
                ],
            ),
            table(f"{label}: phrases drawn at 1920x1080 (px in the 1080p image)", NATIVE_COLUMNS, native),
        ]
        summaries.append(_summary(name, screened, hd["with"], native))
    return tables, summaries


def _summary(name: str, screened, hd: dict[str, float], native: list[list[str]]) -> dict:
    """The figures of one engine that the comparison table shows."""
    text_groups = [(group, reads) for _, group, reads in screened if group[0].phrase]
    free = next(reads for _, group, reads in screened if not group[0].phrase)
    return {
        "engine": name,
        "label": ENGINES[name],
        "exact_by_size": {
            f"{size} px": sum(_read_exactly(s, r[0]) for s, r in zip(g, reads, strict=True))
            for size, (g, reads) in zip(SIZES, text_groups, strict=True)
        },
        "accuracy_by_size": {
            f"{size} px": round(
                float(np.mean([char_accuracy(s.phrase, r[0]) for s, r in zip(g, reads, strict=True)])), 4
            )
            for size, (g, reads) in zip(SIZES, text_groups, strict=True)
        },
        "images_per_size": len(text_groups[0][0]),
        "native_1080p_read": sum(int(row[4]) for row in native[:-1]),
        "native_1080p_images": sum(int(row[1]) for row in native[:-1]),
        "text_free_lines": sum(len(r[0]) for r in free),
        "text_free_cpu_ms": float(np.median([r[1] for r in free])),
        "text_cpu_ms": float(np.median([r[1] for _, reads in text_groups for r in reads])),
        "hd_text_cpu_ms": hd["with text"],
        "hd_text_free_cpu_ms": hd["text-free"],
    }


COMPARE_COLUMNS = ["engine", *(f"{s} px read (char acc.)" for s in SIZES), "1080p-drawn read"]
COMPARE_COLUMNS += ["lines on text-free", "CPU ms text-free 720p", "CPU ms text 720p"]
COMPARE_COLUMNS += ["CPU ms 1080p text-free", "CPU ms 1080p with text"]


def compare_rows(summaries: list[dict]) -> list[list[str]]:
    rows = []
    for s in summaries:
        sizes = [
            f"{s['exact_by_size'][k]}/{s['images_per_size']} ({s['accuracy_by_size'][k]:.3f})"
            for k in s["exact_by_size"]
        ]
        rows.append(
            [s["label"], *sizes, f"{s['native_1080p_read']}/{s['native_1080p_images']}", str(s["text_free_lines"])]
            + [f"{s[k]:.0f}" for k in ("text_free_cpu_ms", "text_cpu_ms", "hd_text_free_cpu_ms", "hd_text_cpu_ms")]
        )
    return rows


def markdown(tables: list[dict]) -> list[str]:
    return [line for t in tables for line in (f"**{t['title']}**", "", markdown_table(t["columns"], t["rows"]), "")]


def library_tables(folder: Path, samples, options: OcrOptions, fts_lines: int) -> tuple[list[dict], list[str]]:
    """Finding, video, indexing speed and text lookup with zhclip's engine (`OcrEngine(options)`): tables, notes."""
    import zhclip

    encoder = MediaEncoder(zhclip.load(DEMO_MODEL, device="cpu", precision="fp32"))
    db = folder / "library.db"
    index_library(db, [folder / "images"], encoder, IndexOptions(ocr=True, ocr_options=options))
    rows, false_hits = recall_table(db, samples, encoder)
    recall = table(
        "Finding (library, substring queries)",
        ["text", "queries", "ocr R@1", "ocr R@5"] + ["hybrid R@1", "hybrid R@5"],
        rows,
    )
    speed = table(
        f"Indexing speed, same photos ({load_note()}; CPU: this process and its workers)",
        ["run", "files", "wall s", "wall ms/file", "CPU s", "CPU ms/file"],
        index_speed(folder / "images", encoder, options),
    )
    lookup = table(
        f"Text lookup, {fts_lines} lines",
        ["query chars", "index", "ms/query", "instr scan ms/query", "lines found"],
        fts_table(fts_lines),
    )
    notes = [f"False hits on text-free photos (--match ocr, {len(PHRASES)} queries, top 50): {false_hits}"]
    notes.append(f"Video: {video_check(folder, encoder, options)}")
    return [recall, speed, lookup], notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", action="append", choices=list(ENGINES), help="engines to read with (default: all)")
    parser.add_argument("--reading-only", action="store_true", help="engines only: no library, video, lookup")
    parser.add_argument("--per-size", type=int, default=40, help="phrase images per text size")
    parser.add_argument("--text-free", type=int, default=40)
    parser.add_argument("--fts-lines", type=int, default=200_000)
    parser.add_argument("--det-side", type=int, default=OcrOptions().det_side, help="longest side detection sees")
    parser.add_argument("--folder", type=Path, help="where to write the images (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="zhclip-ocr-"))
    samples = make_ocr_set(folder / "images", per_size=args.per_size, text_free=args.text_free)
    options = OcrOptions(det_side=args.det_side)
    started = load_note()
    engine_tables, summaries = reading_tables(folder / "images", samples, options, args.engine or list(ENGINES))
    compare = table(
        "Engines side by side (median CPU ms per photo, 1 runtime thread; JPEG decoding included at 720p)",
        COMPARE_COLUMNS,
        compare_rows(summaries),
    )
    tables = [compare, *engine_tables]
    notes = [f"Options: {options}", FONTS_NOTE, f"Load: {started} at start, {load_note()} after reading"]
    write(args.out, started, tables, notes, summaries)
    if not args.reading_only:  # written again with the library's tables: a failure there keeps the engines'
        more, more_notes = library_tables(folder, samples, options, args.fts_lines)
        write(args.out, started, tables + more, notes + more_notes, summaries)


def write(out: Path | None, started: str, tables: list[dict], notes: list[str], summaries: list[dict]) -> None:
    """Prints the report, writes it to `out` (markdown) and the results JSON."""
    text = "\n".join([f"# OCR quality ({started} at start)", "", *markdown(tables), *(f"- {n}" for n in notes)])
    print(text)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    title = "OCR engines: accuracy by text size, text-free reject cost, ms per 1080p photo"
    save("ocr_quality", title, tables, notes=notes, data={"engines": summaries})


if __name__ == "__main__":
    main()
