"""The speech engine: Whisper on CTranslate2 (`faster-whisper`, the `zhclip[speech]` extra) turning a file's sound
into timed lines, guarded against Whisper's known failure modes.

The model is named like zhclip's other models: a faster-whisper size (`small`, `large-v3-turbo`, ...), a Hugging
Face repository of a CTranslate2 Whisper (through `HF_ENDPOINT` where it is set, e.g. a mirror), `modelscope:<id>`,
or a local directory holding one (config.json, model.bin, tokenizer.json, vocabulary.*).

Guards, in order:
- voice-activity detection first (Silero VAD, inside faster-whisper): a file where it hears no speech never
  reaches the model (Whisper invents text over silence and noise; measured with the test model on 20 s of silence,
  white, brown noise, a 50 Hz hum and a chord: 0 lines with VAD, while without it brown noise with language
  detection gave six lines of '2-3-3-4-…');
- Whisper's own fallbacks (`compression_ratio`, `avg_logprob`, `no_speech_prob` thresholds, temperatures up to 1),
  then a segment still past those thresholds is dropped;
- runaway repetition (小猫在嘎嘎嘎嘎…): a run of one to twelve characters said more than `max_repeats` times in a
  row is collapsed to one; a line left with fewer than two characters is dropped;
- lines Whisper is known to invent over silence and music, learnt from subtitled videos (字幕由…提供, 谢谢观看,
  "thanks for watching", 请不吝点赞订阅…) are dropped wherever they come from (a real 谢谢观看 too: the price).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError, ModelNotAvailableError
from ...extras import require
from ...media.audio import SAMPLE_RATE, audio_windows
from ...models.hub import hub_offline, is_modelscope_source, looks_like_hub_id, modelscope_snapshot
from ..text.lines import TextLine
from ..text.normalize import key

# The default model per device: see `DEFAULT_MODEL_WHY` (`zhclip doctor` prints it).
DEFAULT_MODELS = {"cpu": "small", "cuda": "large-v3-turbo"}
DEFAULT_MODEL_WHY = (
    "on a CPU, small: the largest Whisper that keeps ahead of real time on two cores (large-v3's 32-layer encoder "
    "costs about five times small's; benchmarks/speech_cost.py, on the Video page of the docs); on CUDA, "
    "large-v3-turbo: large-v3's encoder, which makes far fewer Mandarin errors than small, with a 4-layer decoder "
    "(its quality and GPU speed are not measured here)"
)
MODEL_FILES = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]
# Keys (see text.normalize: Simplified, lower case, no spaces or punctuation) of lines Whisper invents over silence
# and music, learnt from the subtitles of its training videos.
INVENTED = (
    "字幕由",
    "字幕提供",
    "字幕制作",
    "字幕志愿者",
    "中文字幕",
    "字幕by",
    "subtitlesby",
    "谢谢观看",
    "感谢观看",
    "谢谢收看",
    "感谢收看",
    "谢谢大家观看",
    "请不吝点赞",
    "点赞订阅",
    "订阅转发",
    "打赏支持明镜",
    "明镜与点点栏目",
    "优优独播剧场",
    "yoyotelevisionseries",
    "thanksforwatching",
    "thankyouforwatching",
    "pleasesubscribe",
    "amaraorg",
)


@dataclass(frozen=True)
class SpeechOptions:
    model: str | None = None  # a faster-whisper size, a hub id, modelscope:<id> or a directory (None: the default)
    language: str = "zh"  # a Whisper language code, or "auto": detected per file
    device: str = "auto"  # "cpu", "cuda" or "auto" (CUDA where CTranslate2 sees a GPU)
    compute_type: str | None = None  # CTranslate2's; None: int8 on CPU, float16 on CUDA
    threads: int = 0  # CTranslate2 CPU threads; 0: half the cores (CLIP and OCR keep the rest)
    beam_size: int = 5
    # Whisper's fallbacks: a window whose text repeats itself or is unsure is decoded again, warmer. On 12 espeak-ng
    # phrases of ~4 s (test model, 2 threads, CPU time): all six CER 0.565 at 1.4x real time, (0.0,) 0.642 at 5.1x.
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    no_speech_threshold: float = 0.6  # with avg_logprob under log_prob_threshold: a window of no speech
    log_prob_threshold: float = -1.0  # Whisper's fallback threshold (a segment still under `min_log_prob` is dropped)
    min_log_prob: float = -1.5
    compression_ratio_threshold: float = 2.4  # gzip ratio of a segment's text: above, it repeats itself
    max_repeats: int = 3  # a unit said more often in a row than this is a runaway repetition
    window: float = 600.0  # seconds of sound transcribed at a time (memory: 38 MB of samples)


class SpeechEngine:
    """Transcribes files into `TextLine`s with start and end seconds. One transcription at a time per engine."""

    def __init__(self, options: SpeechOptions = SpeechOptions()):
        require("speech")
        from faster_whisper import WhisperModel

        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # not a line per file in zhclip's log
        self.options = options
        device = resolve_device(options.device)
        self.directory = model_directory(options.model or DEFAULT_MODELS[device])
        compute_type = options.compute_type or ("float16" if device == "cuda" else "int8")
        threads = options.threads or max(1, (os.cpu_count() or 2) // 2)
        self.model = WhisperModel(str(self.directory), device, compute_type=compute_type, cpu_threads=threads)

    def transcribe_file(self, path: str | Path) -> list[TextLine]:
        """The lines said in `path`'s first audio stream (DecodeError: no sound, or sound that cannot be decoded)."""
        language = None if self.options.language == "auto" else self.options.language
        lines: list[TextLine] = []
        for window in audio_windows(path, self.options.window):
            if language is None and has_speech(window.samples):  # one detection per file, on its first speech
                language = self.detect_language(window.samples)
            lines += [_shifted(line, window.start) for line in self.transcribe(window.samples, language)]
        return lines

    def transcribe(self, samples: np.ndarray, language: str | None) -> list[TextLine]:
        """The guarded lines of 16 kHz mono `samples` (times from their start)."""
        if not has_speech(samples):
            return []
        options = self.options
        segments, _ = self.model.transcribe(
            samples,
            language=language,
            beam_size=options.beam_size,
            temperature=list(options.temperatures),
            vad_filter=True,
            no_speech_threshold=options.no_speech_threshold,
            log_prob_threshold=options.log_prob_threshold,
            compression_ratio_threshold=options.compression_ratio_threshold,
            condition_on_previous_text=False,  # a runaway line must not prompt the next one
        )
        return list(guarded(segments, options))

    def detect_language(self, samples: np.ndarray) -> str:
        language, _, _ = self.model.detect_language(samples, vad_filter=True)
        return language


def guarded(segments: Iterable, options: SpeechOptions) -> Iterator[TextLine]:
    """Segments (faster-whisper's) as lines, without those past the thresholds, repeated runs collapsed, and
    invented and empty lines dropped."""
    for segment in segments:
        if (
            segment.compression_ratio > options.compression_ratio_threshold
            or segment.avg_logprob < options.min_log_prob
        ):
            continue
        if segment.no_speech_prob > options.no_speech_threshold and segment.avg_logprob < options.log_prob_threshold:
            continue
        text = clean_text(segment.text, options.max_repeats)
        if text is not None:
            confidence = float(np.exp(segment.avg_logprob))
            yield TextLine(text, round(segment.start, 2), round(segment.end, 2), round(confidence, 3))


def clean_text(text: str, max_repeats: int = 3) -> str | None:
    """`text` with runaway repetitions collapsed, or None for a line to drop (invented, or nothing left)."""
    text = collapse_repeats(text.strip(), max_repeats)
    line_key = key(text)
    if len(line_key) < 2 or any(marker in line_key for marker in INVENTED):
        return None
    return text


def collapse_repeats(text: str, max_repeats: int = 3) -> str:
    """A unit of 1-12 characters (words and spaces) said more than `max_repeats` times in a row (punctuation or
    spaces between them allowed) said once, the shortest unit first: 小猫在嘎嘎嘎嘎嘎 -> 小猫在嘎,
    '乖,乖,乖,乖' -> '乖'."""
    pattern = re.compile(rf"(\w(?:[\w ]{{0,10}}?\w)??)(?:[\W_]*\1){{{max_repeats},}}")
    return pattern.sub(r"\1", text)


def has_speech(samples: np.ndarray) -> bool:
    """Whether Silero VAD (faster-whisper's defaults) hears speech in 16 kHz mono `samples`."""
    from faster_whisper.vad import get_speech_timestamps

    return bool(get_speech_timestamps(samples, sampling_rate=SAMPLE_RATE))


def resolve_device(device: str = "auto") -> str:
    """ "cpu" or "cuda" ("auto": CUDA where CTranslate2 sees a GPU)."""
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def model_directory(model: str) -> Path:
    """The local directory of the CTranslate2 Whisper model `model` names: see the module docstring."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise InputError(path, "not a CTranslate2 Whisper model directory (no model.bin)", field="--speech-model")
        return path
    if is_modelscope_source(model):
        return modelscope_snapshot(model, MODEL_FILES, lambda why: _not_available(model, why))
    from faster_whisper import available_models

    if model not in available_models() and not looks_like_hub_id(model):
        raise InputError(
            None,
            f"{model!r} is neither a directory nor a Whisper model name ({', '.join(available_models())}), "
            "a Hugging Face id (owner/name) or modelscope:<id>",
            field="--speech-model",
        )
    return _hub_directory(model)


def _hub_directory(model: str) -> Path:
    from faster_whisper.utils import download_model
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(download_model(model, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    if hub_offline():
        raise _not_available(model, "not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    try:
        return Path(download_model(model))
    except Exception as exc:  # huggingface_hub raises many network/HTTP error types
        raise _not_available(model, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None


def _not_available(model: str, why: str) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"speech model {model!r} cannot be loaded ({why}). Supply it one of three ways: "
        "pass --speech-model DIR, a directory holding a CTranslate2 Whisper model (config.json, model.bin, "
        "tokenizer.json, vocabulary.*; on a machine with internet: `hf download Systran/faster-whisper-small "
        "--local-dir DIR`, then copy DIR here); set HF_ENDPOINT to a Hugging Face mirror (e.g. "
        "https://hf-mirror.com); or pass modelscope:<owner>/<name> of a CTranslate2 Whisper model on ModelScope "
        "(pip install 'zhclip[modelscope]')."
    )


def _shifted(line: TextLine, seconds: float) -> TextLine:
    if not seconds:
        return line
    return TextLine(line.text, round(line.start + seconds, 2), round(line.end + seconds, 2), line.confidence)
