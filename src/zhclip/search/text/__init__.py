"""Text found in media, in one store: OCR lines, speech segments and subtitle cues.

`normalize` (the key and sound every line and query is matched by) -> `lines` (the library's `text_lines`
table, its full-text indexes, and the matcher that ranks lines of any source) -> `source` (one `LineSource`
that OCR, speech and subtitles are instances of, see `search.sources`) -> `reading` (the `TextReader`s the
indexer drives for sources that read a content while it is indexed: OCR, speech).
"""
