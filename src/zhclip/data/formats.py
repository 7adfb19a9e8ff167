"""The Chinese-CLIP dataset layout: `{split}_imgs.tsv` (image_id TAB base64) and `{split}_texts.jsonl`.

Readers stream line by line and report a bad line by file and line number (see `BadRecords`)."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import DecodeError, InputError
from ..io import atomic_path, write_jsonl
from ..media import open_image
from .io import BadRecords, iter_json_lines

SPLITS = ("train", "valid", "test")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True)
class SplitPaths:
    """Where one split of a dataset lives, in both the tsv/jsonl and the LMDB form."""

    root: Path
    split: str

    @property
    def imgs_tsv(self) -> Path:
        return self.root / f"{self.split}_imgs.tsv"

    @property
    def texts_jsonl(self) -> Path:
        return self.root / f"{self.split}_texts.jsonl"

    @property
    def lmdb_imgs(self) -> Path:
        return self.root / "lmdb" / self.split / "imgs"

    @property
    def lmdb_pairs(self) -> Path:
        return self.root / "lmdb" / self.split / "pairs"


@dataclass(frozen=True)
class TextRecord:
    text_id: int
    text: str
    image_ids: tuple[int, ...]
    line: int = 0


@dataclass(frozen=True)
class TsvLine:
    image_id: int
    b64: bytes
    line: int
    offset: int


# ------------------------------------------------------------------ texts


def read_texts(path: str | Path, bad: BadRecords | None = None) -> Iterator[TextRecord]:
    """Stream `{split}_texts.jsonl`: each line needs an int `text_id`, a str `text` and a list of int `image_ids`."""
    bad = bad or BadRecords()
    for number, obj in iter_json_lines(path, bad):
        try:
            yield _text_record(obj, path, number)
        except InputError as exc:
            bad.handle(exc)


def _text_record(obj: object, path: str | Path, line: int) -> TextRecord:
    if not isinstance(obj, dict):
        raise InputError(path, "expected a JSON object", line=line)
    for field in ("text_id", "text", "image_ids"):
        if field not in obj:
            raise InputError(path, "missing field", line=line, field=field)
    if not _is_int(obj["text_id"]):
        raise InputError(path, f"must be an integer, got {obj['text_id']!r}", line=line, field="text_id")
    if not isinstance(obj["text"], str):
        raise InputError(path, f"must be a string, got {type(obj['text']).__name__}", line=line, field="text")
    ids = obj["image_ids"]
    if not isinstance(ids, list) or not ids or not all(_is_int(i) for i in ids):
        raise InputError(path, f"must be a non-empty list of integers, got {ids!r}", line=line, field="image_ids")
    return TextRecord(obj["text_id"], obj["text"], tuple(ids), line)


def write_texts(out: str | Path, records: Iterable[TextRecord]) -> int:
    rows = ({"text_id": r.text_id, "text": r.text, "image_ids": list(r.image_ids)} for r in records)
    return write_jsonl(out, rows)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ images


def iter_tsv(path: str | Path, bad: BadRecords | None = None) -> Iterator[TsvLine]:
    """Stream `{split}_imgs.tsv` as (image_id, base64 bytes, line number, byte offset of the line)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    bad = bad or BadRecords()
    offset = 0
    with open(path, "rb") as fin:
        for number, raw in enumerate(fin, start=1):
            if raw.strip():
                try:
                    yield parse_tsv_line(raw, path, number, offset)
                except InputError as exc:
                    bad.handle(exc)
            offset += len(raw)


def parse_tsv_line(raw: bytes, path: str | Path, line: int, offset: int = 0) -> TsvLine:
    parts = raw.strip().split(b"\t")
    if len(parts) != 2:
        raise InputError(path, f"expected 'image_id<TAB>base64', found {len(parts)} column(s)", line=line)
    try:
        image_id = int(parts[0])
    except ValueError:
        raise InputError(path, f"image id {parts[0][:40]!r} is not an integer", line=line, field="image_id") from None
    return TsvLine(image_id, parts[1], line, offset)


def decode_b64(b64: bytes | str) -> bytes:
    """Base64 to bytes, standard or URL-safe alphabet (Chinese-CLIP writes the first and reads with the second)."""
    data = b64.encode("ascii", "replace") if isinstance(b64, str) else bytes(b64)
    return base64.b64decode(data.translate(_URLSAFE_TO_STANDARD), validate=True)


def decode_image_b64(
    b64: bytes | str, path: str | Path, *, line: int | None = None, what: str = "image"
) -> Image.Image:
    """Decode one stored image; any failure is an InputError naming the file and line (or `what`, e.g. a key)."""
    try:
        data = decode_b64(b64)
    except (binascii.Error, ValueError) as exc:
        raise InputError(path, f"{what} is not valid base64: {exc}", line=line) from None
    try:
        return open_image(data, name=path, orient=False)  # as Chinese-CLIP reads them: no EXIF rotation
    except DecodeError as exc:
        raise DecodeError(path, f"{what} does not decode: {exc.reason}", line=line) from None


def encode_image_b64(image: Image.Image, fmt: str = "JPEG", **save_args) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_tsv(out: str | Path, rows: Iterable[tuple[int, str | bytes]]) -> int:
    """Write `image_id<TAB>base64` lines atomically. Returns the number of images written."""
    count = 0
    with atomic_path(out) as tmp, open(tmp, "wb") as fout:
        for image_id, b64 in rows:
            fout.write(b"%d\t%s\n" % (image_id, b64.encode("ascii") if isinstance(b64, str) else b64))
            count += 1
    return count
