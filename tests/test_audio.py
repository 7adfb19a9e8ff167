"""zhclip.media.audio: a file's sound decoded once to 16 kHz mono float32, in windows; files without sound or
with sound that cannot be decoded are DecodeErrors saying which."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from zhclip.errors import DecodeError
from zhclip.media.audio import SAMPLE_RATE, audio_info, audio_windows, read_audio
from zhclip.media.files import media_kind

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
SECONDS = 3.0


def tone(path: Path, seconds: float = SECONDS, rate: int = 44_100, channels: int = 2) -> Path:
    """A 440 Hz tone, 16-bit PCM WAV."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(pcm[:, None], channels, axis=1).tobytes())
    return path


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True, timeout=60)


def test_wav_is_resampled_to_16k_mono(tmp_path):
    samples = read_audio(tone(tmp_path / "tone.wav"))
    assert samples.dtype == np.float32
    assert abs(len(samples) / SAMPLE_RATE - SECONDS) < 0.01
    assert 0.45 < np.abs(samples).max() < 0.75  # both channels mixed down at -3 dB each (FFmpeg's), not summed
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(samples) - 440) < 2
    assert abs(audio_info(tmp_path / "tone.wav").duration - SECONDS) < 0.01


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".flac", ".ogg", ".opus"])
def test_compressed_audio(tmp_path, suffix):
    path = tmp_path / f"tone{suffix}"
    ffmpeg("-i", tone(tmp_path / "tone.wav"), path)
    samples = read_audio(path)
    assert abs(len(samples) / SAMPLE_RATE - SECONDS) < 0.1
    assert media_kind(path) is None and media_kind(path, audio=True) == "audio"


@needs_ffmpeg
def test_video_sound_in_windows(tmp_path):
    path = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x48:d=3", "-i", tone(tmp_path / "t.wav"), "-shortest", path)
    windows = list(audio_windows(path, window=1.0))
    assert [w.start for w in windows[:3]] == [0.0, 1.0, 2.0]
    assert all(len(w.samples) == SAMPLE_RATE for w in windows[:3])
    assert len(read_audio(path, max_seconds=1.5)) == int(1.5 * SAMPLE_RATE)


@needs_ffmpeg
def test_video_without_sound(tmp_path):
    path = tmp_path / "silent-film.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x48:d=1", path)
    with pytest.raises(DecodeError, match="no audio stream"):
        read_audio(path)


@needs_ffmpeg
def test_undecodable_sound(tmp_path):
    import av

    good, bad = tmp_path / "good.mkv", tmp_path / "bad.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x48:d=2", "-i", tone(tmp_path / "t.wav", 2.0), "-c:a", "aac", good)
    noise = np.random.default_rng(0)
    with av.open(str(good)) as source, av.open(str(bad), "w") as out:
        targets = {s.index: out.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None:
                continue
            target = targets[packet.stream.index]
            if packet.stream.type == "audio":  # the same timing, garbage inside
                garbage = av.Packet(noise.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
                packet = garbage
            packet.stream = target
            out.mux(packet)
    with pytest.raises(DecodeError, match="cannot decode audio"):
        read_audio(bad)


def test_not_media(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("not a sound")
    with pytest.raises(DecodeError, match="notes.mp3"):
        read_audio(path)


@needs_ffmpeg
def test_sound_that_starts_late_is_timed_like_the_pictures(tmp_path):
    path = tmp_path / "late.mp4"
    video = ["-f", "lavfi", "-i", "color=c=blue:s=64x48:d=4"]
    ffmpeg(*video, "-itsoffset", "1.5", "-i", tone(tmp_path / "t.wav", 2.0), "-c:a", "aac", path)
    first = next(audio_windows(path))
    assert abs(first.start - 1.5) < 0.1
