"""`zhclip demo`: generate a demo library, index it with the demo model, run example queries, serve the page."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="offline demo: generated photos and videos, index, query, web page")
    p.add_argument("--dir", default="demo_library", help="where to put the generated files and the library")
    p.add_argument("--model", help="model to use (default: zhclip's demo model, trained on the offline benchmark)")
    p.add_argument("--photos", type=int, default=48)
    p.add_argument("--videos", type=int, default=4)
    p.add_argument(
        "--query",
        help="search for this instead of the examples (default: a photo, a video moment, a moment found by its "
        "subtitles and, with zhclip[ocr], a sign, each found first by a query chosen after indexing from the "
        "captions, subtitles and texts of the demo files)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--no-serve", action="store_true", help="stop after the example queries")
    p.set_defaults(handler=demo)


def demo(args: argparse.Namespace) -> int:
    from ..extras import installed_extras

    sock = None if args.no_serve else _bind(args.host, args.port)  # a taken port is said before any work
    ocr = installed_extras()["ocr"]
    searcher, library = _index(Path(args.dir), args, ocr)
    fused = "; the picture's and the text's rankings fused: --match hybrid" if ocr or library.subtitles else ""
    print(f"3/4 searching it (zhclip search TEXT --db {searcher.library.reader.path}{fused}):")
    if args.query:
        _show(searcher, args.query)
    else:
        _show_examples(searcher, library, ocr)
    if sock is not None:
        _serve(searcher, sock, f"http://{args.host}:{args.port}/")
    return 0


def _index(folder: Path, args: argparse.Namespace, ocr: bool):
    """Steps 1 and 2: the demo files (with `ocr`, signs too) in `folder`, indexed; (its searcher, the library)."""
    from ..search import IndexOptions, Library, MediaEncoder, Searcher, index_library
    from ..search.demo import make_demo_library
    from ..search.stores import open_reader
    from .search import log_to_file

    signs = ", signs and receipts" if ocr else ""
    print(
        f"1/4 generating the demo library in {folder}/ (photos incl. a HEIC, videos of moving shapes in shots with "
        f"subtitle files beside them{signs}) …"
    )
    library = make_demo_library(folder / "files", args.photos, args.videos, signs=ocr)
    source = _model_source(args.model, folder)
    db = folder / "library.db"
    log_to_file(db)
    print(f"2/4 indexing with {source}, reading the subtitles{' and the text in pictures (OCR)' if ocr else ''} …")
    encoder = MediaEncoder.load(source, device="cpu")
    print(f"   {index_library(db, [library.folder], encoder, IndexOptions(ocr=ocr)).line()}")
    return Searcher(Library(open_reader(db), encoder)), library


def _model_source(model: str | None, folder: Path) -> str:
    """`model`, else the demo model, else (a checkout without it) a random tiny model saved in `folder`."""
    from ..models import random_model, save_cnclip
    from ..search.demo import DEMO_MODEL

    if model or DEMO_MODEL.is_file():
        return model or str(DEMO_MODEL)
    source = str(folder / "random_tiny.pt")
    net = random_model("tiny", seed=0)
    save_cnclip(net.state_dict(), net.config, source)
    print(
        f"   note: the demo model {DEMO_MODEL} is not in this checkout; using a RANDOM tiny model, "
        "so the rankings below are meaningless"
    )
    return source


def _show(searcher, text: str) -> None:
    from ..search import Query
    from ..search.ranking import page
    from .search import print_page

    print(f"   {text!r}")
    print_page(page(searcher, Query(text=text, top=5)), as_json=False)


def _show_examples(searcher, library, ocr: bool) -> None:
    """A photo, a video moment, a moment by its subtitles and (with OCR) a sign, each found first by a query
    chosen from the library."""
    from ..search.demo import captions_of, first_found, sign_texts

    photo = first_found(searcher, library, captions_of(library, "photos"))
    _print_found("a photo", photo, "the photo this caption was written for")
    videos = captions_of(library, "videos")
    moment = first_found(searcher, library, videos) or first_found(searcher, library, videos, kind="video")
    _print_found("a video moment", moment, "the moment of the video this caption was written for")
    _show_subtitles(searcher, library, moment.name if moment else None)
    if not ocr:
        print("   words in a picture: pip install 'zhclip[ocr]' to find photos and video frames by their text")
    elif not library.signs:
        print("   words in a picture: no Chinese font to draw the demo's signs (apt-get install fonts-noto-cjk)")
    else:
        sign = first_found(searcher, library, sign_texts(library))
        _print_found("words in a picture", sign, "the sign or receipt that shows these words")


def _show_subtitles(searcher, library, shown: str | None) -> None:
    """A phrase of one subtitle cue (of another video than `shown`, where there is one), found by --match
    subtitles at the cue's time; and where the default ranking (CLIP fused with the text sources) puts it."""
    from ..search import Query
    from ..search.demo import cue_of, first_found, rank_of, subtitle_phrases
    from ..search.ranking import search
    from .search import clock

    if not library.subtitles:
        print("   a video moment by its subtitles: none of the demo's videos has a subtitle file (--videos 0?)")
        return
    phrases = sorted(subtitle_phrases(library), key=lambda phrase: phrase[1] == shown)  # stable: cue order kept
    found = first_found(searcher, library, phrases, match="subtitles")
    if found is None:
        _print_found("a video moment by its subtitles (--match subtitles)", found, "")
        return
    cue = cue_of(library, found)
    sidecar = Path(library.subtitles[found.name].origin).relative_to(library.folder).as_posix()
    said = f"the shot whose cue in {sidecar} ({clock(cue.start)}-{clock(cue.end)}) says these words"
    _print_found("a video moment by its subtitles (--match subtitles)", found, said)
    rank = rank_of(search(searcher, Query(text=found.text, top=5)), library, found.name, cue)
    where = "first too" if rank == 1 else f"number {rank}" if rank else "nowhere in its top 5"
    print(f"   -> the default ranking (the picture's and the text's fused: --match hybrid) ranks it {where}")


def _print_found(what: str, found, described: str) -> None:
    from .search import clock, print_results

    if found is None:
        print(f"   {what}: none of the demo's queries finds its own file first with this model")
        return
    print(f"   {what}: {found.text!r}")
    print_results(found.results[:3], as_json=False)
    top = found.results[0]
    where = f" at {clock(top.start)}-{clock(top.end)}" if top.kind == "video" else ""
    print(f"   -> ranked first: {found.name}{where}, {described}")


def _bind(host: str, port: int):
    from ..web.security import check_bind
    from .serving import bind_port

    check_bind(host, None)
    return bind_port(host, port)


def _serve(searcher, sock, url: str) -> None:
    from ..web import create_app
    from .serving import run_server

    print(f"4/4 open {url} to search the demo library (Ctrl-C to stop)", flush=True)
    run_server(sock, create_app(searcher))
