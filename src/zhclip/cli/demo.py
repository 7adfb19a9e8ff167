"""`zhclip demo`: generate a demo library, index it with the demo model, run a sample query, serve the page."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("zhclip.search")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="offline demo: generated photos and videos, index, query, web page")
    p.add_argument("--dir", default="demo_library", help="where to put the generated files and the library")
    p.add_argument("--model", help="model to use (default: zhclip's demo model, trained on the offline benchmark)")
    p.add_argument("--photos", type=int, default=48)
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--query", help="the sample query (default: a caption of one generated photo)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--no-serve", action="store_true", help="stop after the sample query")
    p.set_defaults(handler=demo)


def demo(args: argparse.Namespace) -> int:
    from ..models import random_model, save_cnclip
    from ..search import Library, MediaEncoder, Query, Searcher, index_library
    from ..search.demo import DEMO_MODEL, make_demo_library, sample_query
    from .search import _print_results, log_to_file

    folder = Path(args.dir)
    print(f"1/4 generating the demo library in {folder}/ (photos incl. a HEIC, videos of moving shapes) …")
    library = make_demo_library(folder / "files", args.photos, args.videos)
    source = args.model or (str(DEMO_MODEL) if DEMO_MODEL.is_file() else None)
    if source is None:
        source = str(folder / "random_tiny.pt")
        net = random_model("tiny", seed=0)
        save_cnclip(net.state_dict(), net.config, source)
        print(
            f"   note: the demo model {DEMO_MODEL} is not in this checkout; using a RANDOM tiny model, "
            "so the rankings below are meaningless"
        )
    db = folder / "library.db"
    log_to_file(db)
    print(f"2/4 indexing with {source} …")
    encoder = MediaEncoder.load(source, device="cpu")
    summary = index_library(db, [library.folder], encoder)
    print(f"   {summary.line()}")
    text, described = sample_query(library)
    text = args.query or text
    print(f"3/4 sample query: zhclip search {text!r} --db {db}")
    searcher = Searcher(Library.open(db, source, device="cpu"))
    results = searcher.search(Query(text=text, top=5))
    _print_results(results, as_json=False)
    if not args.query:
        rank = next((i for i, r in enumerate(results, 1) if r.path.endswith(described)), None)
        print(f"   the query is a caption of {described}: " + (f"rank {rank}" if rank else "not in the top 5"))
    if args.no_serve:
        return 0
    from ..web import create_app
    from ..web.security import check_bind
    from .serving import bind_port, run_server

    check_bind(args.host, None)
    sock = bind_port(args.host, args.port)
    print(f"4/4 open http://{args.host}:{args.port}/ to search the demo library (Ctrl-C to stop)", flush=True)
    run_server(sock, create_app(searcher))
    return 0
