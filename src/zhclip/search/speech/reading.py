"""Speech as a step of indexing: what is said in each new video and audio content, transcribed once per content
hash in one thread of its own (CTranslate2 limited to half the cores, so CLIP and OCR keep theirs), committed
with its content (a killed run transcribes the uncommitted ones again, nothing twice).

A video without sound, or whose sound cannot be decoded, is indexed for its pictures all the same: the reason
is logged and stored as the content's speech error (`zhclip library info` counts them)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..stores import AnyStore
from ..text.lines import TextLine
from ..text.reading import PooledReader
from .engine import DEFAULT_MODELS, SpeechEngine, SpeechOptions, resolve_device


class SpeechReading(PooledReader):
    source = "speech"
    label = "speech"
    kinds = ("video", "audio")

    def __init__(self, store: AnyStore, engine: SpeechEngine):
        super().__init__(store, workers=1)  # one transcription at a time: the engine's threads are the limit
        self.engine = engine

    def read_lines(self, path: str, kind: str) -> list[TextLine]:
        return self.engine.transcribe_file(path)


def start_speech(store: AnyStore, on: bool | None, model: str | None, language: str | None) -> SpeechReading | None:
    """Speech for this run, if asked for now (`on`) or when the library was last indexed. The choice, the model
    and the language are remembered in the library (None: as last time; at first the device's model and zh)."""
    meta = store.meta()
    on = meta.speech if on is None else on
    language = language or meta.speech_language
    reading = None
    if on:
        model = model or meta.speech_model or DEFAULT_MODELS[resolve_device()]
        if Path(model).expanduser().is_dir():  # remembered so that a run from another folder finds it
            model = str(Path(model).expanduser().resolve())
        reading = SpeechReading(store, SpeechEngine(SpeechOptions(model, language)))
    with store.transaction():
        store.set_meta(replace(meta, speech=on, speech_model=model or meta.speech_model, speech_language=language))
    return reading
