"""Datasets in the Chinese-CLIP layout (tsv/jsonl and LMDB), folder import, and the synthetic benchmark."""

from .dataset import PairDataset, normalize_text
from .formats import SPLITS, SplitPaths, TextRecord, read_texts, write_texts, write_tsv
from .images import ImageSource, LmdbImages, TsvImages, open_images
from .io import BadRecords
from .lmdb_store import LmdbPairs, LmdbStats, build_lmdb

__all__ = [
    "SPLITS",
    "BadRecords",
    "ImageSource",
    "LmdbImages",
    "LmdbPairs",
    "LmdbStats",
    "PairDataset",
    "SplitPaths",
    "TextRecord",
    "TsvImages",
    "build_lmdb",
    "normalize_text",
    "open_images",
    "read_texts",
    "write_texts",
    "write_tsv",
]
