"""Material search: index a photo and video library, search it by Chinese text or by image.

One module per step: `scan` (walk and stat) -> `decode` (hash, pixels, frames) -> `encode` (model, on the
`compute` thread) -> `store` (SQLite, its `meta` record) -> `vector_index` (the vectors in memory; `coarse`:
its int8 first pass) -> `library` (a library opened for searching: reader, model check, index reloads) ->
`query` (CLIP ranking: search, similar, video segments, weak results under the automatic `cutoff`) ->
`ranking` (the match modes every query goes through: clip, one per text source, hybrid), where `sources`
are the texts found in media (OCR, in `ocr/`) and `fusion` fuses any number of rankings. `indexer` runs
the first four as a pipeline and `dupes` finds near-duplicates.

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
    "VectorIndex": ".vector_index",
    "IndexOptions": ".indexer",
    "IndexProgress": ".indexer",
    "IndexSummary": ".indexer",
    "index_library": ".indexer",
    "Library": ".library",
    "LibraryMeta": ".meta",
    "ModelIdentity": ".meta",
    "Hit": ".query",
    "Page": ".query",
    "Query": ".query",
    "Result": ".query",
    "Searcher": ".query",
    "DEFAULT_EXCLUDES": ".scan",
    "FileRecord": ".store",
    "Filters": ".store",
    "Reader": ".store",
    "Store": ".store",
    "TextSource": ".sources",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
