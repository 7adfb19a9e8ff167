"""Material search: index a photo and video library, search it by Chinese text or by image.

One module per step: `scan` (walk and stat) -> `decode` (hash, pixels, frames) -> `encode` (model, on the
`compute` thread) -> `store` (SQLite, its `meta` record) -> `index` (in-memory vectors) -> `library` (a library
opened for searching: reader, model check, index reloads) -> `query` (ranking: search, similar, segments);
`indexer` runs the first four as a pipeline and `dupes` finds near-duplicates.
"""

from ..media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaInfo
from .decode import DecodeOptions
from .encode import MediaEncoder, model_identity
from .errors import DecodeError, LibraryError, NotFoundError
from .index import VectorIndex
from .indexer import IndexOptions, IndexProgress, IndexSummary, index_library
from .library import Library
from .meta import LibraryMeta, ModelIdentity
from .query import Query, Result, Searcher
from .scan import DEFAULT_EXCLUDES, scan
from .store import FileRecord, Filters, Reader, Store

__all__ = [
    "DEFAULT_EXCLUDES",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "DecodeError",
    "DecodeOptions",
    "FileRecord",
    "Filters",
    "IndexOptions",
    "IndexProgress",
    "IndexSummary",
    "Library",
    "LibraryError",
    "LibraryMeta",
    "MediaEncoder",
    "MediaInfo",
    "ModelIdentity",
    "NotFoundError",
    "Query",
    "Reader",
    "Result",
    "Searcher",
    "Store",
    "VectorIndex",
    "index_library",
    "model_identity",
    "scan",
]
