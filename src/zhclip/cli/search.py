"""Material search commands: index, search, similar, dupes, serve."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .options import DB_HELP, add_precision_argument

if TYPE_CHECKING:
    from ..search.location import PostgresUrl

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5000


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_index(subparsers)
    _register_queries(subparsers)
    _register_serve(subparsers)


def _register_index(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("index", help="index (or update) a library of photos and videos")
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders or files to index")
    _library_args(p)
    p.add_argument(
        "--frame-interval",
        type=float,
        default=2.0,
        help="seconds between sampled video frames within a shot (each shot's first frame is always sampled)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="skip files and folders whose name matches this glob (repeatable)",
    )
    p.add_argument(
        "--no-default-excludes", action="store_true", help="do not skip thumb/cache/__MACOSX/@eaDir/.git-like folders"
    )
    p.add_argument("--min-size", type=int, default=64, help="skip images smaller than this many pixels a side")
    p.add_argument("--workers", type=int, default=None, help="decoding threads (default: up to 4)")
    p.add_argument("--batch-size", type=int, default=32, help="images per model forward pass")
    p.add_argument(
        "--commit-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="commit finished files this often (a killed run loses at most this much work)",
    )
    p.add_argument("--reindex", action="store_true", help="rebuild a library that was indexed with another model")
    p.add_argument(
        "--claim-lease",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="a PostgreSQL library indexed by several machines: a killed indexer's files go to another after this",
    )
    p.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="NAME=LOCAL_PATH",
        help="the library's root NAME (its folder's name) is at LOCAL_PATH on this machine (repeatable); paths are "
        "stored as the root was first indexed, so machines mounting it elsewhere index each file once",
    )
    p.add_argument(
        "--ocr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read the Chinese text in photos and video frames, for --match ocr/hybrid (remembered by the "
        "library; --no-ocr turns it off; needs zhclip[ocr])",
    )
    p.add_argument(
        "--speech",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="transcribe what is said in videos and audio files (.mp3 .m4a .wav ... then join the library), for "
        "--match speech/hybrid (remembered by the library; --no-speech turns it off; needs zhclip[speech])",
    )
    p.add_argument(
        "--speech-model",
        metavar="ID|DIR",
        help="Whisper model: a size (small, large-v3-turbo), a Hugging Face id, modelscope:<id> or a directory of a "
        "CTranslate2 Whisper (default: the library's, else small; `zhclip doctor` says why)",
    )
    p.add_argument(
        "--speech-language",
        metavar="LANG",
        help="the language spoken: zh (default), en, ... or auto (detected per file; unreliable on short clips)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--watch", action="store_true", help="then keep watching the folders and index changes (Ctrl-C)")
    p.set_defaults(handler=index)


def _register_queries(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="search a library by Chinese text and/or an image")
    p.add_argument("text", nargs="?", help="what to look for, e.g. 海边的日落")
    p.add_argument("--image", help="search with an image (with text: both together)")
    p.add_argument(
        "--match",
        choices=["clip", "ocr", "speech", "subtitles", "text", "hybrid"],
        help="rank by what the picture shows (clip), by the text read in it (ocr), by what is said (speech), by "
        "its subtitles (subtitles), by all the text a library has (text), or by the picture and the text fused "
        "(hybrid; the default for a library with any text, else clip)",
    )
    _library_args(p)
    _query_args(p)
    p.set_defaults(handler=search)

    p = subparsers.add_parser("similar", help="files that look like a file of the library")
    p.add_argument("path", help="a file in the library")
    p.add_argument("--at", type=float, help="for a video: the moment (seconds) to match")
    _library_args(p)
    _query_args(p)
    p.set_defaults(handler=similar)

    p = subparsers.add_parser("dupes", help="groups of near-duplicate files")
    _library_args(p)
    p.add_argument("--threshold", type=float, default=0.95, help="cosine similarity that counts as duplicate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=dupes)


def _register_serve(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve the search page and API (default http://127.0.0.1:5000)")
    _library_args(p)
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind; other than loopback needs --token")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--token", help="the admin token: may do everything (header `Authorization: Bearer T` or ?token=T)")
    p.add_argument("--read-token", help="a read-only token: search, browse, files, dupes; no rescan, trash, restore")
    p.add_argument("--watch", action="store_true", help="index the library's folders whenever files change")
    p.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="NAME=LOCAL_PATH",
        help="the library's root NAME is at LOCAL_PATH on this machine (repeatable; see `zhclip index --mount`)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes on the port (default 1); more answer more requests/s, each holds its own model, "
        "and indexing is then left to `zhclip index` (no --watch, no rescan from the page)",
    )
    p.set_defaults(handler=serve)


def _library_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help=f"{DB_HELP}; `zhclip index` creates it")
    p.add_argument("--model", help="HF dir, hub id, zoo name or .pt checkpoint (default: the library's model)")
    add_precision_argument(p, default="auto")
    p.add_argument("--device", default="auto")


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--negative", help="drop results closer to this text than to the query")
    p.add_argument("--path-contains", help="only files whose path contains this text")
    p.add_argument("--after", type=_date, help="only files dated on or after YYYY-MM-DD (EXIF date, else mtime)")
    p.add_argument("--before", type=_date, help="only files dated before YYYY-MM-DD")
    p.add_argument("--type", choices=["image", "video", "all"], default="all")
    p.add_argument("--top", type=int, default=20)
    p.add_argument(
        "--min-score",
        type=float,
        help="only results with at least this cosine similarity (default: where results stop being matches, "
        "judged per library and query; -1: the whole ranked list)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def _date(text: str) -> float:
    from ..search.store import parse_day

    try:
        return parse_day(text, "date")
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.reason) from None


# ------------------------------------------------------------------ index


def index(args: argparse.Namespace) -> int:
    from ..extras import require
    from ..search import DEFAULT_EXCLUDES, IndexOptions, MediaEncoder
    from ..search.location import library_location
    from ..search.mounts import parse_mount

    if args.ocr:
        require("ocr")  # before loading the model or writing anything
    if args.speech:
        require("speech")
    db = library_location(args.db)  # an unknown scheme is refused before a log file or a folder `postgresql:`
    recorded = _recorded_model(db)  # a PostgreSQL server that cannot be used says so before anything is written
    log_file = log_to_file(db)
    source = args.model or recorded
    if source is None:
        raise InputError(
            None,
            "a new library needs a model: add --model (e.g. OFA-Sys/chinese-clip-vit-base-patch16, "
            "a local Hugging Face dir or a Chinese-CLIP .pt)",
            field="--model",
        )
    encoder = MediaEncoder.load(
        source, device=args.device, precision=args.precision, batch_size=args.batch_size, runtime=args.runtime
    )
    excludes = tuple(args.exclude) + (() if args.no_default_excludes else DEFAULT_EXCLUDES)
    options = IndexOptions(
        excludes=excludes,
        frame_interval=args.frame_interval,
        min_side=args.min_size,
        reindex=args.reindex,
        commit_every=args.commit_every,
        ocr=args.ocr,
        speech=args.speech,
        speech_model=args.speech_model,
        speech_language=args.speech_language,
        claim_lease=args.claim_lease,
        mounts=tuple(parse_mount(text) for text in args.mount),
        **({"workers": args.workers} if args.workers else {}),
    )
    _index_once(db, args.paths, encoder, options, log_file, progress=not args.no_progress)
    if args.watch:
        _index_on_changes(db, encoder, options, log_file)
    return 0


def _recorded_model(db: Path | PostgresUrl) -> str | None:
    """The model the library at `db` was indexed with; None for a library without one (or no file yet)."""
    from ..search.stores import open_reader

    if isinstance(db, Path) and not db.is_file():
        return None
    model = open_reader(db).meta().model
    return None if model is None else model.source


def _index_once(db: Path | PostgresUrl, paths, encoder, options, log_file, progress: bool) -> None:
    from ..search import index_library

    with _ProgressBar(enabled=progress) as bar:
        summary = index_library(db, paths, encoder, options, progress=bar.update)
    line = f"{db}: {summary.line()}"
    print(line, flush=True)
    if log_file is not None:
        log_file.handle(logging.makeLogRecord({"msg": line, "levelname": "INFO", "levelno": logging.INFO}))
    if summary.failed:
        print(f"{len(summary.failed)} files skipped; reasons in {_where(log_file)}")


def _index_on_changes(db: Path | PostgresUrl, encoder, options, log_file) -> None:
    """`index --watch`: index the library's folders again after each settled burst of changes, until Ctrl-C."""
    import threading

    from ..search.mounts import Mounts
    from ..search.stores import open_reader
    from ..search.watch import watch_roots

    library_roots = open_reader(db).meta().roots
    roots = Mounts.resolve(library_roots, options.mounts).local_roots(library_roots)
    print(f"watching {', '.join(roots)} (Ctrl-C to stop)", flush=True)
    try:
        watch_roots(roots, lambda _: _index_once(db, roots, encoder, options, log_file, False), threading.Event())
    except KeyboardInterrupt:
        print("stopped watching")


def log_to_file(db: Path | PostgresUrl) -> logging.FileHandler | None:
    """Everything the library logs also goes to its log file (`log_path`); None where that cannot be written (a
    library on a read-only disk can still be searched and served; indexing it fails clearly)."""
    path = log_path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        logging.getLogger("zhclip").warning("no log file %s (%s): the terminal only", path, exc.strerror or exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("zhclip").addHandler(handler)
    return handler


def log_path(db: Path | PostgresUrl) -> Path:
    """LIBRARY.log beside an SQLite library; for a PostgreSQL library, which has no folder here,
    $XDG_STATE_HOME/zhclip/logs/SERVER-DATABASE.log (XDG_STATE_HOME: ~/.local/state when unset)."""
    if isinstance(db, Path):
        return db.with_suffix(".log")
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    name = re.sub(r"[^\w.-]+", "_", f"{db.server}-{db.database}").strip("_")
    return Path(state) / "zhclip" / "logs" / f"{name}.log"


def _where(log_file: logging.FileHandler | None) -> str:
    return log_file.baseFilename if log_file is not None else "the messages above"


class _ProgressBar:
    """tqdm over the files that need work: files/s and ETA; the encoder's idle share and failures in the postfix."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __enter__(self) -> _ProgressBar:
        from tqdm.contrib.logging import logging_redirect_tqdm

        self._redirect = logging_redirect_tqdm()
        self._redirect.__enter__()
        return self

    def update(self, state) -> None:
        from tqdm import tqdm

        if not self.enabled or state.phase == "scanning":
            return
        if self.bar is None:
            self.bar = tqdm(total=state.total, unit="file", desc="indexing", dynamic_ncols=True)
        self.bar.n, self.bar.total = state.done, state.total
        failed = f", failed {state.failed}" if state.failed else ""
        others = f", waiting for {state.held_elsewhere} held by other indexers" if state.phase == "waiting" else ""
        self.bar.set_postfix_str(f"encoder idle {state.encoder_idle:.0%}{failed}{others}", refresh=False)
        self.bar.refresh()

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
        self._redirect.__exit__(*exc)


# ------------------------------------------------------------------ queries


def _library(args: argparse.Namespace, towers: tuple[str, ...] = ("image", "text"), serving: bool = False):
    """A server loads the image tower after the text one and builds its index for many queries; a command
    asks one."""
    from ..search import Library

    options = {"towers": towers, "runtime": args.runtime, "image_later": serving, "single_query": not serving}
    return Library.open(args.db, args.model, args.precision, args.device, **options)


def _searcher(args: argparse.Namespace, towers: tuple[str, ...] = ("text",), serving: bool = False):
    """Text queries, "similar" and negatives need only the text tower (a fast, small load)."""
    from ..search import Searcher

    return Searcher(_library(args, towers, serving))


def _query(args: argparse.Namespace):
    from ..search import Filters, Query

    filters = Filters(
        kind=None if args.type == "all" else args.type,
        path_contains=args.path_contains,
        after=args.after,
        before=args.before,
    )
    return Query(negative=args.negative, filters=filters, top=args.top, min_score=args.min_score)


def search(args: argparse.Namespace) -> int:
    from ..search.ranking import page as matched_page

    if not args.text and not args.image:
        raise InputError(None, "give a text to search for, or --image PATH")
    searcher = _searcher(args, ("image", "text") if args.image else ("text",))
    query = _query(args)
    query.text = args.text
    if args.image:
        query.image = searcher.encoder.encode_image_file(args.image)
    print_page(matched_page(searcher, query, args.match), args.json)
    return 0


def similar(args: argparse.Namespace) -> int:
    searcher = _searcher(args)
    record = searcher.library.reader.file_by_path(str(Path(args.path).expanduser().absolute()))
    print_page(searcher.similar_page(record.id, args.at, _query(args)), args.json)
    return 0


def dupes(args: argparse.Namespace) -> int:
    from ..search.dupes import find_dupes

    library = _library(args)
    groups = find_dupes(library.reader, library.index, args.threshold)
    if args.json:
        print(json.dumps([[r.path for r in group] for group in groups], ensure_ascii=False, indent=2))
        return 0
    for n, group in enumerate(groups, 1):
        print(f"group {n} ({len(group)} files)")
        for record in group:
            print(f"  {record.path}")
    print(f"{len(groups)} groups of near-duplicates (threshold {args.threshold})")
    return 0


def print_page(page, as_json: bool) -> None:
    print_results(page.results, as_json, page.cutoff)


def print_results(results, as_json: bool, cutoff: float | None = None) -> None:
    """The results, best first; a divider before the first weak one (under the automatic threshold `cutoff`)."""
    if as_json:
        print(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2))
        return
    divided = False
    for r in results:
        if r.weak and not divided:
            divided = True
            print(_divider(cutoff))
        where = f"  [{clock(r.start)}-{clock(r.end)}]" if r.start is not None else ""
        print(f"{r.score:.4f}  {r.kind:5}  {r.path}{where}{_line(r.text)}")
    if not results:
        print("no results")


def _line(text: dict | None) -> str:
    """The matched text line of a result, with its source and the time it is shown or said."""
    if text is None:
        return ""
    at = "" if text["start"] is None else f" {clock(text['start'])}"
    return f"  {text['source']}{at} 「{text['line']}」"


def _divider(cutoff: float | None) -> str:
    under = "" if cutoff is None else f" (under {cutoff:.3f})"
    return f"── weaker matches{under} ──"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:04.1f}"


# ------------------------------------------------------------------ serve


def serve(args: argparse.Namespace) -> int:
    from ..search.mounts import parse_mount
    from ..web import create_app
    from ..web.security import check_bind
    from .serving import bind_port, run_server

    check_bind(args.host, args.token, args.read_token)
    if args.processes < 1:
        raise InputError(None, f"must be at least 1, got {args.processes}", field="--processes")
    if args.processes > 1 and args.watch:
        raise InputError(None, "--watch indexes from the server, which needs --processes 1", field="--processes")
    sock = bind_port(args.host, args.port)  # a taken port is said before the model loads
    from ..search.stores import open_reader

    library = open_reader(args.db).path  # one that cannot be opened is said before a log is made
    log_file = log_to_file(library)
    if args.processes > 1:
        return _serve_processes(args, sock, log_file)
    # the page answers text queries while the image tower (for uploaded images and rescans) still loads
    searcher = _searcher(args, ("image", "text"), serving=True)
    searcher.library.mount([parse_mount(text) for text in args.mount])
    app = create_app(searcher, token=args.token, watch=args.watch, read_token=args.read_token)
    print(
        f"serving {library} on http://{args.host}:{args.port}/ (log: {_where(log_file)}; Ctrl-C to stop)",
        flush=True,
    )
    run_server(sock, app)
    return 0


def _serve_processes(args: argparse.Namespace, sock, log_file) -> int:
    from ..search.library import Library
    from ..search.location import library_location
    from ..web.processes import NoDelayProtocol, settings_env
    from .serving import run_server

    # the library and its model are checked here, so a mistake is one message, not one per process
    Library.open(args.db, args.model, args.precision, args.device, towers=("text",), runtime=args.runtime)
    os.environ.update(settings_env(args))
    print(
        f"serving {library_location(args.db)} on http://{args.host}:{args.port}/ from {args.processes} processes "
        f"(log: {_where(log_file)}; Ctrl-C to stop)",
        flush=True,
    )
    run_server(sock, "zhclip.web.processes:app", workers=args.processes, http=NoDelayProtocol)
    return 0
