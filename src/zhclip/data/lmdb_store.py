"""The LMDB form of a split, key-compatible with Chinese-CLIP's `build_lmdb_dataset.py`:

    lmdb/<split>/imgs   key str(image_id) -> base64 bytes;                       key "num_images"
    lmdb/<split>/pairs  key str(index)    -> pickle((image_id, text_id, text));  key "num_samples"

Readers open their environment lazily, once per process, so datasets holding them work in DataLoader workers."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import lmdb
from tqdm import tqdm

from ..errors import InputError
from ..io import atomic_path
from .formats import SplitPaths, decode_image_b64, iter_tsv, read_texts
from .io import BadRecords

NUM_IMAGES_KEY = b"num_images"
NUM_SAMPLES_KEY = b"num_samples"
MAP_SIZE = 1 << 40  # address space only; the file grows with the data
COMMIT_EVERY = 1000
PICKLE_PROTOCOL = 4  # readable by every Python that Chinese-CLIP supports


@dataclass(frozen=True)
class LmdbStats:
    split: str
    num_images: int
    num_pairs: int
    skipped: int


class _Writer:
    """One LMDB environment written in batched transactions, closed with its count key."""

    def __init__(self, path: Path):
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=MAP_SIZE)
        self.txn = self.env.begin(write=True)
        self.count = 0

    def put(self, key: str, value: bytes) -> None:
        self.txn.put(key.encode("utf-8"), value)
        self.count += 1
        if self.count % COMMIT_EVERY == 0:
            self.txn.commit()
            self.txn = self.env.begin(write=True)

    def close(self, count_key: bytes) -> None:
        self.txn.put(count_key, str(self.count).encode("utf-8"))
        self.txn.commit()
        self.env.close()


def build_lmdb(dataset_dir: str | Path, split: str, bad: BadRecords | None = None, progress: bool = False) -> LmdbStats:
    """Build `lmdb/<split>/{imgs,pairs}` from the split's tsv and jsonl. Every image is decoded once to check it;
    pairs whose image id is not in the tsv are bad records. The result appears atomically."""
    paths = SplitPaths(Path(dataset_dir), split)
    bad = bad or BadRecords()
    skipped_before = bad.count
    for source in (paths.imgs_tsv, paths.texts_jsonl):
        if not source.is_file():
            raise InputError(
                source, f"no such file (split {split!r} needs both {paths.imgs_tsv.name} and {paths.texts_jsonl.name})"
            )
    paths.lmdb_imgs.parent.parent.mkdir(parents=True, exist_ok=True)
    for old in (paths.lmdb_imgs, paths.lmdb_pairs):
        _close_environment(old)
    with atomic_path(paths.lmdb_imgs.parent, directory=True) as tmp:
        image_ids = _write_images(tmp / "imgs", paths.imgs_tsv, bad, progress)
        num_pairs = _write_pairs(tmp / "pairs", paths.texts_jsonl, image_ids, bad, progress)
    return LmdbStats(split, len(image_ids), num_pairs, bad.count - skipped_before)


def _write_images(out: Path, tsv: Path, bad: BadRecords, progress: bool) -> set[int]:
    writer = _Writer(out)
    seen: set[int] = set()
    for row in tqdm(iter_tsv(tsv, bad), desc=f"{tsv.name}", unit="img", disable=not progress):
        try:
            if row.image_id in seen:
                raise InputError(tsv, f"image id {row.image_id} appears twice", line=row.line, field="image_id")
            decode_image_b64(row.b64, tsv, line=row.line)
        except InputError as exc:
            bad.handle(exc)
            continue
        seen.add(row.image_id)
        writer.put(str(row.image_id), row.b64)
    writer.close(NUM_IMAGES_KEY)
    return seen


def _write_pairs(out: Path, jsonl: Path, image_ids: set[int], bad: BadRecords, progress: bool) -> int:
    writer = _Writer(out)
    for record in tqdm(read_texts(jsonl, bad), desc=f"{jsonl.name}", unit="text", disable=not progress):
        missing = [i for i in record.image_ids if i not in image_ids]
        if missing:
            bad.handle(
                InputError(
                    jsonl, f"image id(s) {missing} not in the split's images", line=record.line, field="image_ids"
                )
            )
            continue
        for image_id in record.image_ids:
            writer.put(str(writer.count), pickle.dumps((image_id, record.text_id, record.text), PICKLE_PROTOCOL))
    writer.close(NUM_SAMPLES_KEY)
    return writer.count


_ENVIRONMENTS: dict[str, tuple[int, lmdb.Environment]] = {}


def _read_environment(path: Path) -> lmdb.Environment:
    """One read-only environment per path and process (LMDB forbids opening a path twice in one process,
    and a handle must not cross a fork)."""
    key = str(path.resolve())
    pid, env = _ENVIRONMENTS.get(key, (-1, None))
    if env is not None and pid == os.getpid():
        return env
    if env is not None:  # inherited through fork (a DataLoader worker): drop this process's copy, then reopen
        env.close()
    env = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False)
    _ENVIRONMENTS[key] = (os.getpid(), env)
    return env


def _close_environment(path: Path) -> None:
    pid, env = _ENVIRONMENTS.pop(str(path.resolve()), (-1, None))
    if env is not None and pid == os.getpid():
        env.close()


class LmdbReader:
    """Read-only access to one LMDB environment; picklable, the handle is looked up per process."""

    def __init__(self, path: str | Path, count_key: bytes):
        self.path = Path(path)
        if not (self.path / "data.mdb").is_file():
            raise InputError(self.path, "not an LMDB directory (no data.mdb)")
        self.count_key = count_key
        raw = self.get_raw(count_key)
        if raw is None or not raw.isdigit():
            raise InputError(self.path, f"missing or bad count key {count_key.decode()!r}")
        self.count = int(raw)

    def get_raw(self, key: bytes) -> bytes | None:
        with _read_environment(self.path).begin() as txn:
            return txn.get(key)

    def keys(self) -> list[bytes]:
        with _read_environment(self.path).begin() as txn:
            return [k for k in txn.cursor().iternext(keys=True, values=False) if k != self.count_key]


class LmdbPairs:
    """`lmdb/<split>/pairs`: index -> (image_id, text_id, text)."""

    def __init__(self, path: str | Path):
        self.reader = LmdbReader(path, NUM_SAMPLES_KEY)

    def __len__(self) -> int:
        return self.reader.count

    def __getitem__(self, index: int) -> tuple[int, int, str]:
        raw = self.reader.get_raw(str(index).encode("utf-8"))
        if raw is None:
            raise InputError(self.reader.path, f"pair {index} missing (num_samples is {len(self)})")
        try:
            image_id, text_id, text = pickle.loads(raw)
        except (pickle.UnpicklingError, ValueError, TypeError, EOFError) as exc:
            raise InputError(
                self.reader.path, f"pair {index} is not a pickled (image_id, text_id, text): {exc}"
            ) from None
        return int(image_id), int(text_id), str(text)
