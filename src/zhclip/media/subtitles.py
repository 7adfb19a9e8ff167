"""Reading subtitles: sidecar files next to a video and text subtitle streams inside its container.

Sidecars are `NAME.srt .ass .ssa .vtt` beside `NAME.mp4` (any suffix case), also language-tagged
(`NAME.zh.srt`, `NAME.chs.ass`, `NAME.zh-Hans.vtt`); a tagged name that is another video's own name
(`NAME.cut.srt` beside `NAME.cut.mp4`) belongs to that video. Their bytes are UTF-8 (with or without BOM),
UTF-16 with a BOM, or GB18030/GBK; anything else, or broken timing, is a DecodeError with its reason. pysubs2
parses them. Streams (mov_text in MP4; subrip, ass, webvtt in MKV) are demuxed with PyAV and decoded as
subtitles only: no picture is decoded. Cues come out as plain text (ASS override tags and drawings dropped,
line breaks as spaces), empty cues left out.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DecodeError
from .files import AV_PACKAGE, VIDEO_SUFFIXES, unreadable

SUBTITLE_SUFFIXES = frozenset({".srt", ".ass", ".ssa", ".vtt"})
TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})  # bitmap ones are not text
MAX_SUBTITLE_BYTES = 16 << 20
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# GB18030 decodes most double-byte text without an error, Big5 and Shift-JIS included, as nonsense: real
# Chinese has most of its characters in GB2312 (Traditional text in GBK measured 66 %, Shift-JIS read as GBK
# 0 %) and hardly any kana, bopomofo, Greek, Cyrillic, box drawing or private-use characters (Big5 read as GBK:
# 44 % of its characters).
MIN_GB2312_SHARE = 1 / 3
MAX_ODD_SHARE = 0.05
ODD_RANGES = ((0x0370, 0x04FF), (0x2500, 0x257F), (0x3040, 0x30FF), (0x3100, 0x312F), (0xE000, 0xF8FF))
OVERRIDE = re.compile(r"\{([^}]*)\}")
DRAWING = re.compile(r"\\p(\d+)")
TIMING_LINE = re.compile(r"\d.*-->|-->.*\d")  # not an arrow in a line of dialogue
VTT_BLOCK = re.compile(r"(?:^|\n\n)(?:NOTE|STYLE|REGION)\b.*?(?=\n\n|\Z)", re.S)


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


@dataclass(frozen=True)
class Subtitles:
    """The cues of one sidecar file or one subtitle stream; `language` as tagged (`zh`, `chs`, `chi`), if at all."""

    origin: str  # the sidecar's path, or the video's path and `#stream N`
    language: str | None
    cues: tuple[Cue, ...]


def sidecars(video: str | Path) -> list[Path]:
    """The subtitle files beside `video`, by name."""
    video = Path(video)
    return folder_sidecars(video.parent, os.listdir(video.parent)).get(video.name, [])


def folder_sidecars(folder: Path, names: Iterable[str]) -> dict[str, list[Path]]:
    """Video file name -> its subtitle files, for a folder holding the files `names` (videos sharing a stem,
    `NAME.mp4` and `NAME.mkv`, share its sidecars)."""
    names = list(names)
    videos: dict[str, list[str]] = defaultdict(list)
    for name in names:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in VIDEO_SUFFIXES:
            videos[stem].append(name)
    found: dict[str, list[Path]] = defaultdict(list)
    for name in sorted(names):
        stem, suffix = os.path.splitext(name)
        owner = _owner(stem, videos) if suffix.lower() in SUBTITLE_SUFFIXES else None
        for video in videos.get(owner, ()):
            found[video].append(folder / name)
    return dict(found)


def _owner(stem: str, video_stems: Container[str]) -> str | None:
    """The longest video stem a subtitle file's stem is, or starts with before a dot."""
    while stem not in video_stems:
        stem, dot, _ = stem.rpartition(".")
        if not dot:
            return None
    return stem


def sidecar_language(video: str | Path, sidecar: str | Path) -> str | None:
    """The tag between the video's name and the suffix (`NAME.zh-Hans.vtt` -> `zh-Hans`), if any."""
    tag = Path(sidecar).stem[len(Path(video).stem) + 1 :]
    return tag or None


def read_sidecar(path: str | Path, video: str | Path | None = None) -> Subtitles:
    """The cues of one sidecar file (its language tag taken from its name beside `video`)."""
    text = decode_text(_read_limited(path), path)
    language = None if video is None else sidecar_language(video, path)
    return Subtitles(str(path), language, tuple(parse_cues(text, path)))


def _read_limited(path: str | Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SUBTITLE_BYTES + 1)
    except OSError as exc:
        raise unreadable(path, exc) from None
    if len(data) > MAX_SUBTITLE_BYTES:
        raise DecodeError(path, f"subtitle file is larger than the limit of {MAX_SUBTITLE_BYTES >> 20} MiB")
    if not data.strip():
        raise DecodeError(path, "empty subtitle file")
    return data


def decode_text(data: bytes, path: str | Path) -> str:
    """The text of a subtitle file: by its BOM, else UTF-8, else GB18030/GBK when it reads as Chinese."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DecodeError(path, f"broken {encoding.upper()} text at byte {exc.start}") from None
    if b"\x00" in data:
        raise DecodeError(path, "unknown encoding (NUL bytes: UTF-16 without a byte-order mark?); save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is None or not _reads_as_chinese(text):
        raise DecodeError(path, "unknown encoding (not UTF-8, UTF-16 or GB18030/GBK; Big5?); save it as UTF-8")
    return text


def _reads_as_chinese(text: str) -> bool:
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide:
        return True
    odd = sum(any(lo <= ord(c) <= hi for lo, hi in ODD_RANGES) or unicodedata.category(c) == "Cn" for c in wide)
    common = sum(_in_gb2312(c) for c in wide)
    return odd <= MAX_ODD_SHARE * len(wide) and common >= MIN_GB2312_SHARE * len(wide)


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def parse_cues(text: str, path: str | Path) -> list[Cue]:
    """The non-empty cues of subtitle text (SRT, ASS, SSA, WebVTT: told apart by content), in order."""
    import pysubs2

    if text.lstrip("\ufeff").startswith("WEBVTT"):
        text = VTT_BLOCK.sub("", text.replace("\r\n", "\n"))  # pysubs2 reads NOTE blocks as cue text
    # pysubs2 knows ASS by its styles section, which a file may leave out
    events_only = "[Events]" in text and "Styles]" not in text
    try:
        events = pysubs2.SSAFile.from_string(text, "ass" if events_only else None)
    except pysubs2.exceptions.FormatAutodetectionError:
        raise DecodeError(path, "not a subtitle file (SRT, ASS, SSA or WebVTT)") from None
    except (pysubs2.exceptions.Pysubs2Error, ValueError) as exc:
        raise DecodeError(path, f"cannot parse subtitles: {exc}") from None
    cues = []
    for number, event in enumerate(events, 1):
        if event.is_comment:
            continue
        _check_timing(path, number, event.start, event.end, event.text)
        cue = Cue(event.start / 1000, event.end / 1000, plain_text(event.text))
        if cue.text:
            cues.append(cue)
    if not cues and not any(not e.is_comment and plain_text(e.text) for e in events):
        raise DecodeError(path, "no subtitle cues (broken timing?)")
    return cues


def _check_timing(path: str | Path, number: int, start: int, end: int, text: str) -> None:
    """A cue that starts before 0 or ends before it starts, or a timing line left in a cue's text (pysubs2
    reads a line it cannot parse as the previous cue's text), is broken timing."""
    if start < 0 or end < start:
        raise DecodeError(path, f"broken timing: cue {number} runs from {start / 1000:.3f} s to {end / 1000:.3f} s")
    stray = next((line for line in text.split("\\N") if TIMING_LINE.search(line)), None)
    if stray is not None:
        raise DecodeError(path, f"broken timing: after cue {number}, the timing line {stray.strip()!r}")


def plain_text(ass_text: str) -> str:
    """Text as shown: override tags and drawings (`{\\p1}...{\\p0}`) dropped, line breaks as spaces."""
    shown = []
    drawing = False
    for i, part in enumerate(OVERRIDE.split(ass_text)):
        if i % 2:  # inside {...}
            for level in DRAWING.findall(part):
                drawing = int(level) > 0
        elif not drawing:
            shown.append(part)
    text = "".join(shown).replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return " ".join(text.split())


def read_streams(video: str | Path) -> list[Subtitles]:
    """The cues of each text subtitle stream inside `video`, demuxed without decoding a picture."""
    try:
        import av
    except ImportError:
        raise DecodeError(video, f"videos need {AV_PACKAGE}") from None
    try:
        with av.open(str(video), metadata_errors="ignore") as container:
            streams = [s for s in container.streams.subtitles if s.codec_context.name in TEXT_CODECS]
            if not streams:
                return []
            cues: dict[int, list[Cue]] = {s.index: [] for s in streams}
            for packet in container.demux(streams):
                cue = _packet_cue(packet)
                if cue is not None:
                    cues[packet.stream.index].append(cue)
            return [Subtitles(f"{video}#stream {s.index}", _stream_language(s), tuple(cues[s.index])) for s in streams]
    except av.FFmpegError as exc:
        raise DecodeError(video, f"cannot read its subtitle streams: {exc}") from None


def _packet_cue(packet) -> Cue | None:
    if packet.pts is None or not packet.size:
        return None
    shown = [plain_text(s.dialogue.decode("utf-8", "replace")) for s in packet.decode() if hasattr(s, "dialogue")]
    text = " ".join(t for t in shown if t)
    if not text:
        return None  # mov_text marks the end of a cue with an empty one
    start = float(packet.pts * packet.time_base)
    return Cue(start, start + float((packet.duration or 0) * packet.time_base), text)


def _stream_language(stream) -> str | None:
    language = stream.metadata.get("language")
    return None if language in (None, "", "und") else language
