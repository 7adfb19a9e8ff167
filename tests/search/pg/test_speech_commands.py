"""Speech on a PostgreSQL library through the CLI as a user runs it: `zhclip index --speech` with the test
Whisper model (base, from the dev extra's packages) hears a video and an audio file, `zhclip search --match
speech` finds the video at the moment it is said, and a second run hears nothing again. An audio file stored
first no longer sizes the vector column from its empty pixel rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.search.test_speech import SAID, SAID_IN_AUDIO, ffmpeg, real_model, similar
from zhclip.media import MediaInfo
from zhclip.search.pg.store import PgStore

FP32 = ("--precision", "fp32")  # "auto" measures the machine once; tests need not wait for that


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory) -> Path:
    from zhclip.data.synth.speech import whisper_base_dir

    return whisper_base_dir(tmp_path_factory.mktemp("whisper"))


@real_model
def test_speech_is_heard_into_and_searched_in_a_postgresql_library(cli, pg_url, model_path, whisper_dir, tmp_path):
    from zhclip.data.synth.speech import speak

    lib, db = tmp_path / "lib", str(pg_url)
    lib.mkdir()
    start, end = speak(SAID, tmp_path / "said.wav", silence_before=2.0, silence_after=1.0)
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=96x64:d=6", "-i", tmp_path / "said.wav", "-shortest", lib / "said.mp4")
    speak(SAID_IN_AUDIO, lib / "hike.wav", silence_before=0.5)
    speech = ("--speech", "--speech-model", whisper_dir, "--speech-language", "zh")
    done = cli("index", lib, "--db", db, "--model", model_path, *speech, "--no-progress", *FP32)
    assert done.returncode == 0, done.stderr
    assert "new 2, updated 0, unchanged 0, removed 0, failed 0" in done.stdout

    found = json.loads(cli("search", "明天去北京", "--db", db, "--match", "speech", "--json", *FP32).stdout)
    assert found[0]["path"] == str(lib / "said.mp4") and found[0]["text"]["source"] == "speech"
    heard = found[0]["text"]
    assert similar(heard["line"], SAID) and abs(heard["start"] - start) < 1.0 and abs(heard["end"] - end) < 1.0
    apples = json.loads(cli("search", "吃苹果", "--db", db, "--match", "speech", "--json", *FP32).stdout)
    assert apples[0]["path"] == str(lib / "hike.wav")

    again = cli("index", lib, "--db", db, "--no-progress", *FP32)  # speech stays on, remembered by the library
    assert again.returncode == 0, again.stderr
    assert "new 0, updated 0, unchanged 2, removed 0, failed 0" in again.stdout
    facts = json.loads(cli("library", "info", "--db", db, "--json").stdout)["speech"]
    assert (facts["on"], facts["contents"], facts["contents_with_text"]) == (True, 2, 2)


def test_an_audio_file_stored_first_leaves_the_vectors_their_size(pg_url):
    """An audio file's content has no vectors (its pixel rows are empty, 3 x 8 x 8 each): the vector column is
    sized by the first content that has some."""
    store = PgStore(pg_url)
    vector = np.ones((1, 16), np.float32) / 4
    with store.transaction():
        store.add_content("audio", "audio", MediaInfo(None, None, 6.0, None), [], np.empty((0, 3, 8, 8), np.float32))
        store.add_content("image", "image", MediaInfo(64, 48, None, None), [None], vector)
    column = (
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'vectors'::regclass AND attname = 'vector'"
    )
    assert store.conn.execute(column).fetchone()[0] == "halfvec(16)"
    store.close()
