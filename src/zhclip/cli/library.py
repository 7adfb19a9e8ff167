"""`zhclip library`: a library's facts (info), re-rooting a folder that moved (move)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_library(subparsers)


def _register_library(subparsers: argparse._SubParsersAction) -> None:
    library = subparsers.add_parser("library", help="a library's facts, and re-rooting a folder that moved")
    commands = library.add_subparsers(dest="library_command", metavar="LIBRARY_COMMAND", required=True)
    p = commands.add_parser("info", help="roots, counts and model of a library")
    p.add_argument("--db", required=True, help="the library file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=library_info)
    p = commands.add_parser("move", help="re-root the stored paths of a folder that moved (nothing is re-read)")
    p.add_argument("old_root", metavar="OLD_ROOT", help="a root as `zhclip library info` lists it")
    p.add_argument("new_root", metavar="NEW_ROOT", help="where that folder is now")
    p.add_argument("--db", required=True, help="the library file")
    p.set_defaults(handler=library_move)


def library_info(args: argparse.Namespace) -> int:
    from ..search import Reader
    from ..search.text.lines import text_counts

    reader = Reader(args.db)
    meta = reader.meta()
    model = meta.model
    text = text_counts(reader.conn)
    facts = {
        "library": str(Path(args.db).absolute()),
        "roots": list(meta.roots),
        "counts": reader.counts(),
        "model": None if model is None else {"source": model.source, "arch": model.arch, "embed_dim": model.embed_dim},
        "generation": meta.generation,
        "ocr": {"on": meta.ocr, "engine": meta.ocr_engine, **_ocr_counts(text["ocr"])},
        "speech": {"on": meta.speech, "model": meta.speech_model, "language": meta.speech_language, **text["speech"]},
        "subtitles": text["subtitles"],
    }
    if args.json:
        print(json.dumps(facts, ensure_ascii=False, indent=2))
        return 0
    counts = facts["counts"]
    print(f"library {facts['library']}")
    print(f"model   {'none yet' if model is None else f'{model.source} ({model.arch}, {model.embed_dim}-d)'}")
    print(
        f"files   {counts['files']} ({counts['images']} images, {counts['videos']} videos; {counts['vectors']} vectors)"
    )
    print(f"ocr     {_ocr_line(facts['ocr'])}")
    print(f"speech  {_speech_line(facts['speech'])}")
    print(f"subtitles {_subtitles_line(facts['subtitles'])}")
    for root in meta.roots:
        print(f"root    {root}{'' if Path(root).is_dir() else '  (not there now)'}")
    return 0


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


def library_move(args: argparse.Namespace) -> int:
    from ..search.relocate import move_root

    summary = move_root(args.db, args.old_root, args.new_root)
    print(f"{args.db}: {summary.line()}")
    return 0
