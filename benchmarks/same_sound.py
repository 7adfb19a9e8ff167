"""What same-sound matching (toneless pinyin, `find_lines(..., same_sound=True)`) adds in recall and costs in
false hits, on lines generated here (nothing downloaded, no model run).

Every content holds one spoken line, made from templates (who, when, where, what: 我们明天下午去北京开会).
What is stored is that line as a recogniser might have heard it, under three kinds of error:

- `speech`: characters replaced by a homophone (the same toneless pinyin, another of the 3755 common GB2312
  characters: 北京 -> 背景) at `--homophone-rate`, and by any other common character at `--other-rate` — ASR
  errors in Chinese are mostly homophones;
- `ocr`: characters replaced by any other common character at `--ocr-rate` (OCR misreads look alike, they do
  not sound alike);
- `subtitles`: stored exactly as written.

Queries are phrases of 2 and of 4 characters that one written line holds (its content is the one relevant),
and sound-alike ones: such a phrase with one character swapped for a homophone, held by
no written line (背景 when 北京 was said: what same-sound matching costs).
Each query is ranked by the library's own text source (`LineSource.hits`, as `--match speech` does), once
with and once without same-sound matching, and reported: recall@1 and @5 (a relevant content among the first
1 or 5), false hits among the first 5, strong (not weak: exact-phrase) false hits, the share of sound-alike
queries that get a same-sound or exact hit, and the lookup time per query (same run, so
only the ratio means anything on a loaded machine).

    .venv/bin/python benchmarks/same_sound.py [--contents 600] [--queries 300]
    # -> benchmarks/results/machines/<kind>/same_sound.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pypinyin import lazy_pinyin

from zhclip.bench.results import headline, table
from zhclip.search import Query, Reader, Store
from zhclip.search.text.lines import SOUND_WEIGHT, TextLine, save_lines
from zhclip.search.text.source import LineSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

WHO = ["我们", "他们", "老师", "小明", "我妈妈", "同事们", "这家公司", "经理", "孩子们", "大家", "你哥哥", "医生"]
WHEN = ["明天", "下午", "周末", "昨天晚上", "三点钟", "下个月", "今天早上", "春节前", "每天", "马上"]
WHERE = [
    "去北京",
    "在公园",
    "到超市",
    "在会议室",
    "去医院",
    "回学校",
    "在家里",
    "去机场",
    "到银行",
    "在餐厅",
    "去上海",
    "在楼下",
]
WHAT = [
    "开会",
    "买东西",
    "散步",
    "看电影",
    "爬山",
    "吃火锅",
    "打电话",
    "办手续",
    "检查身体",
    "讨论计划",
    "接朋友",
    "取钱",
    "复习功课",
    "修电脑",
    "写报告",
]


def common_characters() -> list[str]:
    """The 3755 level-1 characters of GB2312 (the most common ones, as the standard chose them)."""
    rows = [(a, b) for a in range(0xB0, 0xD8) for b in range(0xA1, 0xFF) if a < 0xD7 or b < 0xFA]
    return [bytes(row).decode("gb2312") for row in rows]


def homophones(chars: list[str]) -> dict[str, list[str]]:
    """Each character -> the other common characters with its toneless pinyin (its usual reading)."""
    by_sound: dict[str, list[str]] = defaultdict(list)
    for char in chars:
        by_sound[lazy_pinyin(char)[0]].append(char)
    return {char: [c for c in by_sound[lazy_pinyin(char)[0]] if c != char] for char in chars}


def written_lines(count: int, rng: random.Random) -> list[str]:
    lines: set[str] = set()
    while len(lines) < count:
        lines.add("".join(rng.choice(part) for part in (WHO, WHEN, WHERE, WHAT)))
    return sorted(lines)


def heard(line: str, kind: str, rates: dict[str, float], sounds: dict[str, list[str]], common, rng) -> str:
    """`line` with the errors of `kind` (see the module docstring)."""
    out = []
    for char in line:
        roll = rng.random()
        if kind == "speech" and roll < rates["homophone"] and sounds.get(char):
            char = rng.choice(sounds[char])
        elif kind == "speech" and roll < rates["homophone"] + rates["other"]:
            char = rng.choice(common)
        elif kind == "ocr" and roll < rates["ocr"]:
            char = rng.choice(common)
        out.append(char)
    return "".join(out)


def queries(lines: list[str], count: int, length: int, sounds: dict[str, list[str]], rng) -> tuple[list, list]:
    """Up to `count` phrases of `length` characters that one written line holds, and as many that sound like one
    of them (a character swapped for a homophone) but that no written line holds: 背景 when 北京 was said."""
    said: set[str] = set()
    for _ in range(200 * count):  # phrases of one line only: a phrase many lines hold is found whatever the errors
        line = rng.choice(lines)
        start = rng.randrange(len(line) - length + 1)
        phrase = line[start : start + length]
        if sum(phrase in other for other in lines) == 1:
            said.add(phrase)
        if len(said) == count:
            break
    alike: set[str] = set()
    for phrase in sorted(said):
        at = rng.randrange(length)
        for other in sounds.get(phrase[at], [])[:20]:
            variant = phrase[:at] + other + phrase[at + 1 :]
            if not any(variant in line for line in lines):
                alike.add(variant)
                break
    return sorted(said), sorted(alike)


def library(folder: Path, stored: list[str]) -> Path:
    """A library of one content per line (files /clip/N.mp4), its line stored as speech at 0-3 s."""
    db = folder / "lines.db"
    store = Store(db)
    with store.transaction():
        for n, text in enumerate(stored):
            content = store.conn.execute("INSERT INTO contents(hash, kind) VALUES (?, 'video')", (f"{n:032x}",))
            store.conn.execute(
                "INSERT INTO files(path, size, mtime_ns, content_id, indexed_at) VALUES (?, 1, 1, ?, 0)",
                (f"/clip/{n}.mp4", content.lastrowid),
            )
            save_lines(store.conn, content.lastrowid, "speech", [TextLine(text, 0.0, 3.0, 0.9)])
    store.close()
    return db


def measure(reader: Reader, source: LineSource, written: list[str], said: list[str], alike: list[str]) -> dict:
    """Content n + 1 holds written[n] (as heard)."""
    at1 = at5 = false5 = false_strong = 0
    started = time.perf_counter()
    for phrase in said:
        relevant = {n + 1 for n, line in enumerate(written) if phrase in line}
        ranked = _contents(source.hits(reader, Query(text=phrase, top=5)))
        at1 += bool(ranked[:1] and ranked[0][0] in relevant)
        at5 += any(c in relevant for c, _ in ranked[:5])
        false5 += sum(c not in relevant for c, _ in ranked[:5])
        false_strong += sum(c not in relevant and not weak for c, weak in ranked)
    distracted = 0
    for phrase in alike:
        hits = source.hits(reader, Query(text=phrase, top=5))
        distracted += any(h.score >= SOUND_WEIGHT for h in hits)
    seconds = time.perf_counter() - started
    return {
        "recall@1": round(at1 / len(said), 4),
        "recall@5": round(at5 / len(said), 4),
        "false_hits_in_top5_per_query": round(false5 / len(said), 3),
        "strong_false_hits_per_query": round(false_strong / len(said), 3),
        "queries": len(said),
        "sound_alike_queries": len(alike),
        "sound_alike_queries_with_exact_or_same_sound_hit": round(distracted / max(1, len(alike)), 4),
        "ms_per_query": round(1000 * seconds / (len(said) + len(alike)), 2),
    }


def _contents(hits) -> list[tuple[int, bool]]:
    """(content, weak) in rank order, each content once."""
    seen: dict[int, bool] = {}
    for hit in hits:
        seen.setdefault(hit.content_id, hit.weak)
    return list(seen.items())


def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    common = common_characters()
    sounds = homophones(common)
    written = written_lines(args.contents, rng)
    asked = {length: queries(written, args.queries, length, sounds, rng) for length in args.lengths}
    rates = {"homophone": args.homophone_rate, "other": args.other_rate, "ocr": args.ocr_rate}
    results: dict[str, dict] = {}
    for kind in ("speech", "ocr", "subtitles"):
        stored = [heard(line, kind, rates, sounds, common, rng) for line in written]
        changed = sum(
            a != b for line, other in zip(written, stored, strict=True) for a, b in zip(line, other, strict=True)
        )
        results[kind] = {"characters_changed": round(changed / sum(map(len, written)), 4)}
        with tempfile.TemporaryDirectory() as folder:
            reader = Reader(library(Path(folder), stored))
            for length, (said, alike) in asked.items():
                results[kind][f"{length}_character_queries"] = {
                    matching: measure(reader, LineSource("speech", "", same_sound=same), written, said, alike)
                    for matching, same in (("key_only", False), ("same_sound", True))
                }
            reader.conn.close()
        print(kind, json.dumps(results[kind], ensure_ascii=False), flush=True)
    return {"config": vars(args), "results": results}


def results_table(results: dict) -> dict:
    """Every stored kind, query length and matching: one row."""
    rows = []
    for kind, found in results.items():
        for queries_of, matchings in found.items():
            if not isinstance(matchings, dict):
                continue
            for matching, m in matchings.items():
                rows.append([
                    kind, f"{found['characters_changed']:.3f}", queries_of.split("_")[0], matching, m["queries"],
                    f"{m['recall@1']:.3f}", f"{m['recall@5']:.3f}", m["false_hits_in_top5_per_query"],
                    m["strong_false_hits_per_query"], f"{m['sound_alike_queries_with_exact_or_same_sound_hit']:.3f}",
                    m["ms_per_query"],
                ])  # fmt: skip
    columns = ["stored lines", "characters changed", "query characters", "matching", "queries", "recall@1",
               "recall@5", "false hits in top 5 per query", "strong false hits per query",
               "sound-alike queries with a hit", "ms per query"]  # fmt: skip
    return table("Same-sound matching against key-only matching (LineSource, as --match speech ranks)", columns, rows)


def headlines(results: dict) -> list[dict]:
    """The README's line: recall@1 of 4-character queries on speech lines with homophone errors."""
    found = results["speech"].get("4_character_queries")
    if not found:
        return []
    measure = "recall@1 of 4-character phrases in speech lines with homophone errors (generated)"
    return [
        headline(measure, f"key only {found['key_only']['recall@1']:.2f}", f"{found['same_sound']['recall@1']:.2f}")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contents", type=int, default=600, help="contents (one line each)")
    parser.add_argument("--queries", type=int, default=300, help="phrase queries of each length")
    parser.add_argument("--lengths", type=int, nargs="+", default=[2, 4], help="query lengths in characters")
    parser.add_argument("--homophone-rate", type=float, default=0.15, help="speech: characters heard as homophones")
    parser.add_argument("--other-rate", type=float, default=0.03, help="speech: characters heard as anything else")
    parser.add_argument("--ocr-rate", type=float, default=0.05, help="ocr: characters misread")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = run(args)
    notes = [
        f"{args.contents} generated lines (who, when, where, what), one per content; stored as speech with homophone "
        f"errors at {args.homophone_rate} and others at {args.other_rate} per character, as OCR with misreads at "
        f"{args.ocr_rate}, as subtitles exactly.",
        "Queries: phrases one written line holds (the relevant content); sound-alike queries: such a phrase with a "
        "character swapped for a homophone that no line holds (what same-sound matching costs).",
        "A strong false hit is an exact-phrase hit on a wrong content; same-sound hits are weak. ms per query from a "
        "shared, loaded 2-core machine: only the same-run ratio means anything.",
    ]
    title = "Same-sound (toneless pinyin) matching of stored lines"
    save("same_sound", title, [results_table(report["results"])], headlines(report["results"]), notes, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
