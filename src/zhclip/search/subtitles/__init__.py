"""Subtitles beside CLIP: the cues of sidecar files next to a video and of the subtitle streams inside it, read
at no cost on every indexing run (again when a sidecar changes), found by their words."""
