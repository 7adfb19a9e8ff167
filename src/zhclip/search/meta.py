"""What a library records about itself (the `meta` table): the model its vectors came from, the folders it
indexes, which text it reads (OCR, speech) and how, and a generation counter that every indexing commit bumps.
The table's keys are named only here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LibraryError

MODEL_SIGNATURE = "model_signature"
MODEL_SOURCE = "model_source"
MODEL_ARCH = "model_arch"
EMBED_DIM = "embed_dim"
ROOTS = "roots"
GENERATION = "generation"
OCR = "ocr"  # "on" or "off": whether indexing reads the text in images (search/ocr)
OCR_ENGINE = "ocr_engine"  # the engine that read it
SPEECH = "speech"  # "on" or "off": whether indexing transcribes what is said in videos and audio (search/speech)
SPEECH_MODEL = "speech_model"  # the speech model it was transcribed with
SPEECH_LANGUAGE = "speech_language"  # the language told to the model ("auto": detected per file)


@dataclass(frozen=True)
class ModelIdentity:
    """What a library records about the model its vectors came from."""

    signature: tuple[float, ...]  # a corner of both projection matrices: tells models apart, in any precision
    source: str
    arch: str
    embed_dim: int

    def matches(self, recorded: ModelIdentity | None) -> bool:
        """Whether a library's recorded model is this one (bf16/int8 copies of the same weights count);
        a library that records none yet (a new one) takes any model."""
        if recorded is None:
            return True
        if recorded.arch != self.arch or len(recorded.signature) != len(self.signature):
            return False
        return bool(np.allclose(recorded.signature, self.signature, rtol=0.02, atol=2e-3))


@dataclass(frozen=True)
class LibraryMeta:
    model: ModelIdentity | None = None  # None until the first indexing run
    roots: tuple[str, ...] = field(default_factory=tuple)
    generation: int = 0
    ocr: bool = False  # indexing reads the text in images and video frames (remembered between runs)
    ocr_engine: str | None = None  # the OCR engine the text was read with
    speech: bool = False  # indexing transcribes speech in videos and audio files (remembered between runs)
    speech_model: str | None = None  # the speech model it was transcribed with
    speech_language: str = "zh"  # the language the model was told ("auto": detected per file)

    @classmethod
    def from_rows(cls, rows: dict[str, str]) -> LibraryMeta:
        model = None
        if MODEL_SIGNATURE in rows:
            model = ModelIdentity(
                tuple(json.loads(rows[MODEL_SIGNATURE])),
                rows.get(MODEL_SOURCE, ""),
                rows.get(MODEL_ARCH, ""),
                int(rows.get(EMBED_DIM, 0)),
            )
        return cls(
            model,
            tuple(json.loads(rows.get(ROOTS, "[]"))),
            int(rows.get(GENERATION, 0)),
            rows.get(OCR) == "on",
            rows.get(OCR_ENGINE),
            rows.get(SPEECH) == "on",
            rows.get(SPEECH_MODEL),
            rows.get(SPEECH_LANGUAGE, "zh"),
        )

    def rows(self) -> dict[str, str]:
        """The rows an indexing run writes (the generation is bumped by the store, not written)."""
        out = {
            ROOTS: json.dumps(list(self.roots), ensure_ascii=False),
            OCR: "on" if self.ocr else "off",
            SPEECH: "on" if self.speech else "off",
            SPEECH_LANGUAGE: self.speech_language,
        }
        if self.ocr_engine is not None:
            out[OCR_ENGINE] = self.ocr_engine
        if self.speech_model is not None:
            out[SPEECH_MODEL] = self.speech_model
        if self.model is not None:
            out |= {
                MODEL_SIGNATURE: json.dumps(self.model.signature),
                MODEL_SOURCE: self.model.source,
                MODEL_ARCH: self.model.arch,
                EMBED_DIM: str(self.model.embed_dim),
            }
        return out

    def model_source(self, library: str | Path) -> str:
        """The model the library was indexed with (to search it with the same one)."""
        if self.model is None or not self.model.source:
            raise LibraryError(
                library,
                "the library has no model yet: index some files first (`zhclip index FOLDER --db PATH --model M`)",
            )
        return self.model.source
