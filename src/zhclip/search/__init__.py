"""Material search: index a photo and video library, search it by Chinese text or by image.

One module per step: `scan` (walk and stat) -> `decode` (hash, pixels, frames) -> `encode` (model, on the
`compute` thread) -> `store` (SQLite, its `meta` record) -> `index` (in-memory vectors) -> `library` (a library
opened for searching: reader, model check, index reloads) -> `query` (ranking: search, similar, segments);
`indexer` runs the first four as a pipeline and `dupes` finds near-duplicates.

Names are imported on first use: a text query loads neither the indexer nor PyTorch.
"""

from __future__ import annotations

from ..lazy import lazy_names

_HOMES = {
    "IMAGE_SUFFIXES": "..media",
    "VIDEO_SUFFIXES": "..media",
    "MediaInfo": "..media",
    "DecodeOptions": ".decode",
    "MediaEncoder": ".encode",
    "model_identity": ".encode",
    "DecodeError": ".errors",
    "LibraryError": ".errors",
    "NotFoundError": ".errors",
    "VectorIndex": ".index",
    "IndexOptions": ".indexer",
    "IndexProgress": ".indexer",
    "IndexSummary": ".indexer",
    "index_library": ".indexer",
    "Library": ".library",
    "LibraryMeta": ".meta",
    "ModelIdentity": ".meta",
    "Query": ".query",
    "Result": ".query",
    "Searcher": ".query",
    "DEFAULT_EXCLUDES": ".scan",
    "FileRecord": ".store",
    "Filters": ".store",
    "Reader": ".store",
    "Store": ".store",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
