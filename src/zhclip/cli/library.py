"""`zhclip library`: a library's facts (info), re-rooting a folder that moved (move), and a copy into another
store (copy), each on an SQLite file or a PostgreSQL database alike. None of them loads a model."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import InputError
from .options import DB_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    library = subparsers.add_parser(
        "library", help="a library's facts, re-rooting a folder that moved, copying it into another store"
    )
    commands = library.add_subparsers(dest="library_command", metavar="LIBRARY_COMMAND", required=True)
    p = commands.add_parser("info", help="store, roots, counts and model of a library")
    p.add_argument("--db", required=True, help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=library_info)
    p = commands.add_parser("move", help="re-root the stored paths of a folder that moved (nothing is re-read)")
    p.add_argument("old_root", metavar="OLD_ROOT", help="a root as `zhclip library info` lists it")
    p.add_argument("new_root", metavar="NEW_ROOT", help="where that folder is now")
    p.add_argument("--db", required=True, help=DB_HELP)
    p.set_defaults(handler=library_move)
    p = commands.add_parser(
        "copy",
        help="copy a library between SQLite and PostgreSQL, either way: vectors and text as they are, nothing "
        "encoded again",
    )
    p.add_argument("source", metavar="SRC", help="the library to copy: a file or a postgresql:// URL")
    p.add_argument(
        "target", metavar="DST", help="a new library file, or a postgresql:// database that holds no library yet"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=library_copy)


# ------------------------------------------------------------------ info


def library_info(args: argparse.Namespace) -> int:
    from ..search.stores import open_reader

    location = _location(args.db, "--db")
    facts = library_facts(open_reader(location), location)
    if args.json:
        print(json.dumps(facts, ensure_ascii=False, indent=2))
        return 0
    counts, model = facts["counts"], facts["model"]
    print(f"library {facts['library']}")
    print(f"store   {'PostgreSQL' if facts['store'] == 'postgresql' else 'SQLite'}, schema {facts['schema']}")
    print(f"model   {_model_line(model)}")
    print(
        f"files   {counts['files']} ({counts['images']} images, {counts['videos']} videos; {counts['vectors']} vectors)"
    )
    print(f"ocr     {_ocr_line(facts['ocr'])}")
    print(f"speech  {_speech_line(facts['speech'])}")
    print(f"subtitles {_subtitles_line(facts['subtitles'])}")
    if facts["queue"] is not None:
        print(f"queue   {facts['queue']['waiting']} files waiting, {facts['queue']['claimed']} claimed by indexers")
    for root, name in facts["root_names"].items():
        print(f"root    {root}{'' if Path(root).is_dir() else '  (not there now)'}  (--mount {name}=LOCAL_PATH)")
    return 0


def library_facts(reader, location) -> dict:
    """What `library info` shows: where the library is (a server without its password), its store and schema,
    model, roots (with the names `--mount` takes) and counts; a PostgreSQL library's indexers' work queue."""
    from ..search.errors import LibraryError
    from ..search.mounts import mount_names

    if reader.version == 0:
        raise LibraryError(location, "holds no library yet (create it with `zhclip index FOLDER --db ...`)")
    meta = reader.meta()
    model = meta.model
    text = reader.text_counts()
    return {
        "library": _shown(location),
        "store": "sqlite" if isinstance(location, Path) else "postgresql",
        "schema": _schema(reader, location),
        "roots": list(meta.roots),
        "root_names": mount_names(meta.roots),
        "queue": _queue(reader, location),
        "counts": reader.counts(),
        "model": None if model is None else {"source": model.source, "arch": model.arch, "embed_dim": model.embed_dim},
        "generation": meta.generation,
        "ocr": {"on": meta.ocr, "engine": meta.ocr_engine, **_ocr_counts(text["ocr"])},
        "speech": {"on": meta.speech, "model": meta.speech_model, "language": meta.speech_language, **text["speech"]},
        "subtitles": text["subtitles"],
    }


def _schema(reader, location) -> int:
    """The library's own schema version (a PostgreSQL library numbers its schema apart from SQLite's)."""
    if isinstance(location, Path):
        return reader.version
    from ..search.pg.schema import schema_version

    return schema_version(reader.conn, location)


def _queue(reader, location) -> dict[str, int] | None:
    """Files waiting for the indexers of a PostgreSQL library and files they hold (SQLite has no queue)."""
    if isinstance(location, Path):
        return None
    from ..search.pg.claims import queue_counts

    return queue_counts(reader.conn)


def _model_line(model: dict | None) -> str:
    return "none yet" if model is None else f"{model['source']} ({model['arch']}, {model['embed_dim']}-d)"


def _ocr_counts(counts: dict[str, int]) -> dict[str, int]:
    """OCR's counts as `library info` has always shown them (its distinct times are video frames)."""
    frames = counts.pop("times")
    return {**counts, "video_frames_with_text": frames}


def _ocr_line(ocr: dict) -> str:
    state = "on" if ocr["on"] else "off"
    if not ocr["contents"]:
        return state + ("" if ocr["on"] else " (zhclip index --ocr turns it on)")
    return (
        f"{state}: read {ocr['contents']} contents ({ocr['unreadable']} unreadable), "
        f"text in {ocr['contents_with_text']} ({ocr['video_frames_with_text']} video frames), {ocr['lines']} lines"
    )


def _speech_line(speech: dict) -> str:
    state = f"on ({speech['model']}, language {speech['language']})" if speech["on"] else "off"
    if not speech["contents"]:
        return state + ("" if speech["on"] else " (zhclip index --speech turns it on)")
    return (
        f"{state}: heard {speech['contents']} contents ({speech['unreadable']} unreadable), "
        f"speech in {speech['contents_with_text']}, {speech['lines']} segments"
    )


def _subtitles_line(subtitles: dict) -> str:
    return (
        f"{subtitles['contents']} videos read, {subtitles['contents_with_text']} with subtitles "
        f"({subtitles['lines']} cues), {subtitles['unreadable']} with an unreadable file"
    )


# ------------------------------------------------------------------ move, copy


def library_move(args: argparse.Namespace) -> int:
    from ..search.relocate import move_root

    location = _location(args.db, "--db")
    summary = move_root(location, args.old_root, args.new_root)
    print(f"{_shown(location)}: {summary.line()}")
    return 0


def library_copy(args: argparse.Namespace) -> int:
    from ..search.pg.copy import copy_library

    source, target = _location(args.source, "SRC"), _location(args.target, "DST")
    started = time.monotonic()
    with _CopyBar(enabled=not args.no_progress) as bar:
        copied = copy_library(source, target, bar.update)
    print(
        f"copied {_shown(source)} to {_shown(target)}: {copied['files']} files, {copied['contents']} contents, "
        f"{copied['vectors']} vectors, {copied['text_lines']} text lines in {time.monotonic() - started:.1f} s"
    )
    return 0


class _CopyBar:
    """tqdm over the rows copied: rows/s and the time left."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __enter__(self) -> _CopyBar:
        return self

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="row", unit_scale=True, desc="copying", dynamic_ncols=True)
        self.bar.n = done
        self.bar.refresh()

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _location(text: str, field: str):
    """An argument naming a library as a Path or a PostgresUrl; a mistake in it names the argument."""
    from ..search.location import library_location

    try:
        return library_location(text)
    except InputError as exc:
        raise InputError(None, exc.reason, field=field) from None


def _shown(location) -> str:
    """A library as messages show it: a file's absolute path, a PostgreSQL URL without its password."""
    return str(location.absolute()) if isinstance(location, Path) else str(location)
