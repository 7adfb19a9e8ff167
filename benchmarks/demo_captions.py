"""The demo files' first captions through `/api/search` with default settings (issue 29 item 1).

The demo library (`make_demo_library`: 48 photos and 4 videos rendered by the synthetic generator, no signs)
is indexed with the demo model; each file's first caption is sent to `/api/search` (default settings: the
automatic threshold marks weak results, nothing is hidden) and, in the same run, with `min_score=-1` (the
unfiltered ranking). Reported: empty first pages, the file in the top 5 (both ways), and the precision and
recall of "above the divider" (the results not marked weak; the caption's own file is its one right
answer). The old rule, which hid the weak results, is read off the same pages: its page was the part above
the divider.

    .venv/bin/python benchmarks/demo_captions.py [--dir /tmp/demo52]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = 5


def build(folder: Path, model: str):
    """(demo library, an API client over its index); the files and the index are made the first time."""
    from fastapi.testclient import TestClient

    from zhclip.search import IndexOptions, Library, MediaEncoder, Searcher, index_library
    from zhclip.search.demo import make_demo_library
    from zhclip.web import create_app

    library = make_demo_library(folder / "files", signs=False)
    db = folder / "library.db"
    encoder = MediaEncoder.load(model, device="cpu", precision="fp32")
    if not db.is_file():
        index_library(db, [library.folder], encoder, IndexOptions(commit_every=0))
    searcher = Searcher(Library.open(db, model, precision="fp32", device="cpu"))
    return library, TestClient(create_app(searcher), base_url="http://127.0.0.1:5000")


def judge(client, text: str, path: str) -> dict:
    """One caption: its default page and its unfiltered page, and where its file is on each."""
    page = client.get("/api/search", params={"q": text}).json()
    unfiltered = client.get("/api/search", params={"q": text, "min_score": -1}).json()
    paths = [r["path"] for r in page["results"]]
    strong = [r["path"] for r in page["results"] if not r["weak"]]
    return {
        "caption": text,
        "path": path,
        "count": len(paths),
        "rank": paths.index(path) + 1 if path in paths else None,
        "unfiltered_rank": next((i for i, r in enumerate(unfiltered["results"], 1) if r["path"] == path), None),
        "above_divider": len(strong),
        "found_above_divider": path in strong,
        "cutoff": page["cutoff"],
    }


def summary(judged: list[dict]) -> dict:
    n = len(judged)
    kept = sum(j["above_divider"] for j in judged)
    right = sum(j["found_above_divider"] for j in judged)
    in_top = sum(j["rank"] is not None and j["rank"] <= TOP for j in judged)
    return {
        "captions": n,
        "empty_pages": sum(j["count"] == 0 for j in judged),
        "in_top5": in_top,
        "in_top5_unfiltered": sum(j["unfiltered_rank"] is not None and j["unfiltered_rank"] <= TOP for j in judged),
        "divider_precision": round(right / kept, 4) if kept else 0.0,
        "divider_recall": round(right / n, 4),
        "above_divider_mean": round(kept / n, 2),
        "hiding_rule_empty_pages": sum(j["above_divider"] == 0 for j in judged),
        "hiding_rule_in_top5": sum(j["found_above_divider"] and j["rank"] <= TOP for j in judged),
    }


def document(result: dict, command: str) -> dict:
    from zhclip.bench.results import headline, results_document, table

    rows = [
        ["captions", result["captions"], result["captions"]],
        ["empty first pages", result["empty_pages"], result["hiding_rule_empty_pages"]],
        [f"file in the top {TOP}", result["in_top5"], result["hiding_rule_in_top5"]],
        [f"file in the top {TOP}, min_score=-1", result["in_top5_unfiltered"], result["in_top5_unfiltered"]],
        ["results above the divider (mean)", result["above_divider_mean"], result["above_divider_mean"]],
        ["precision above the divider", result["divider_precision"], result["divider_precision"]],
        ["recall above the divider", result["divider_recall"], result["divider_recall"]],
    ]
    n = result["captions"]
    return results_document(
        "demo_captions",
        "The demo files' first captions through /api/search (default settings)",
        command,
        [table("Demo captions, demo model, default settings", ["", "weak marked (now)", "weak hidden (before)"], rows)],
        [
            headline(
                f"demo captions: file in the top {TOP}, default settings",
                f"weak hidden: {result['hiding_rule_in_top5']}/{n}, {result['hiding_rule_empty_pages']} empty pages",
                f"{result['in_top5']}/{n}, {result['empty_pages']} empty pages",
            )
        ],
        data={"summary": result},
    )


def main() -> int:
    from zhclip.bench.results import command_line, write_results
    from zhclip.search.demo import DEMO_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/demo52"), help="the demo library (kept)")
    parser.add_argument("--model", default=str(DEMO_MODEL))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "machines")
    args = parser.parse_args()
    library, client = build(args.dir, args.model)
    judged = [
        judge(client, texts[0], str((library.folder / name).absolute())) for name, texts in library.captions.items()
    ]
    result = summary(judged)
    doc = document(result, command_line("benchmarks/demo_captions.py"))
    doc["captions"] = judged
    path = write_results(doc, args.out)
    print(f"cpu: {doc['machine']['cpu']}; flags: {' '.join(doc['machine']['flags'])}")
    for key, value in result.items():
        print(f"{key:26} {value}")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
