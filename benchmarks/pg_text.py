"""Text lines in a PostgreSQL library (search/pg/lines.py) against the SQLite library's (search/text/lines.py):
the same generated Chinese lines written into both, the same queries (2, 3 and 4 characters, present and
misread) asked of both; how often the hits agree, and the p50 query time of each (same-run ratios).

    python -m benchmarks.pg_text --db postgresql://USER@/DB?host=/socket/dir [--lines 200000]

The database must be empty (a new one per run)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from zhclip.media import MediaInfo
from zhclip.search.location import library_location
from zhclip.search.pg import lines as pg_lines
from zhclip.search.pg.store import PgStore
from zhclip.search.store import Filters, Store
from zhclip.search.text import lines as sqlite_lines
from zhclip.search.text.lines import TextLine

CHARACTERS = (  # 498 of the most common Chinese characters
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种"
    "面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本"
    "去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比"
    "或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总"
    "次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做"
    "必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权"
    "收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信"
    "马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连"
    "断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存"
    "候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
)
LINES_PER_CONTENT = 10


def generated_lines(count: int, rng: np.random.Generator) -> list[str]:
    chars = np.array(list(CHARACTERS))
    return ["".join(rng.choice(chars, size=rng.integers(4, 16))) for _ in range(count)]


def write(store, save_lines, lines: list[str]) -> float:
    """Write the lines, LINES_PER_CONTENT per content, in one transaction; seconds taken."""
    began = time.perf_counter()
    vector = np.eye(1, 8, dtype=np.float32)
    with store.transaction():
        for n, start in enumerate(range(0, len(lines), LINES_PER_CONTENT)):
            content_id = store.add_content(f"h{n}", "image", MediaInfo(8, 8), [None], vector)
            chunk = lines[start : start + LINES_PER_CONTENT]
            save_lines(store.conn, content_id, "ocr", [TextLine(t, confidence=0.5 + n % 50 / 100) for t in chunk])
    return time.perf_counter() - began


def queries(lines: list[str], count: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """Pieces of lines of 2, 3 and 4 characters, and 4-character pieces with one character misread."""
    picked = [lines[i] for i in rng.integers(0, len(lines), count)]
    out = {f"{n} characters": [line[:n] for line in picked] for n in (2, 3, 4)}
    out["4, one misread"] = [line[:2] + "的" + line[3:4] for line in picked]
    return out


def facts(hits) -> list[tuple]:
    return sorted((h.content_id, h.line.text, round(h.score, 6)) for h in hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    lines = generated_lines(args.lines, rng)
    with tempfile.TemporaryDirectory() as folder:
        sqlite_store, pg_store = Store(Path(folder) / "lib.db"), PgStore(library_location(args.db))
        print(
            f"{args.lines} lines written: SQLite {write(sqlite_store, sqlite_lines.save_lines, lines):.1f} s, "
            f"PostgreSQL {write(pg_store, pg_lines.save_lines, lines):.1f} s"
        )
        pg_store.conn.execute("VACUUM ANALYZE")  # as autovacuum would: the GIN pending list merged
        stores = {
            "SQLite": (sqlite_store.conn, sqlite_lines.find_lines),
            "PostgreSQL": (pg_store.conn, pg_lines.find_lines),
        }
        for kind, asked in queries(lines, args.queries, rng).items():
            times = {name: [] for name in stores}
            found = {name: [] for name in stores}
            for query in asked:
                for name, (conn, find) in stores.items():
                    began = time.perf_counter()
                    found[name].append(facts(find(conn, "ocr", query, Filters(), limit=1000)))
                    times[name].append(time.perf_counter() - began)
            same = np.mean([a == b for a, b in zip(found["SQLite"], found["PostgreSQL"], strict=True)])
            hits = np.mean([len(f) for f in found["SQLite"]])
            p50 = {name: np.median(t) * 1000 for name, t in times.items()}
            print(
                f"{kind}: same hits {same:.2f} of queries ({hits:.0f} hits each on average); "
                f"p50 SQLite {p50['SQLite']:.1f} ms, PostgreSQL {p50['PostgreSQL']:.1f} ms"
            )
        trips = []
        for _ in range(args.queries):
            began = time.perf_counter()
            pg_store.conn.execute("SELECT 1").fetchone()
            trips.append(time.perf_counter() - began)
        print(f"one round trip to the server (SELECT 1): p50 {np.median(trips) * 1000:.2f} ms")
        sqlite_store.close(), pg_store.close()


if __name__ == "__main__":
    main()
