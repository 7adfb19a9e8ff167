"""Decoding ahead of the encoder: a bounded queue, the encoder's idle time measured, and the CUDA-shaped path
(worker processes, a reusable staging buffer in half precision, non-blocking copies) run on CPU."""

from __future__ import annotations

import logging
import os
import sys
import threading

import numpy as np
import pytest

import zhclip.search.prefetch as prefetch
from tests.polling import eventually
from zhclip.media import open_image
from zhclip.search import IndexOptions, MediaEncoder, Reader, index_library
from zhclip.search.decode import DecodeOptions
from zhclip.search.scan import scan

from .media import photo, video

FAST = IndexOptions(workers=2, commit_every=0.0)


def test_decoding_in_worker_processes_gives_the_same_library(tmp_path, encoder):
    lib = tmp_path / "lib"
    for i in range(6):
        photo(lib / f"p{i}.jpg", i)
    video(lib / "v.mp4", ["red", "blue"])
    threads = index_library(tmp_path / "threads.db", [lib], encoder, FAST)
    processes = index_library(
        tmp_path / "processes.db", [lib], encoder, IndexOptions(workers=2, commit_every=0.0, decode_processes=True)
    )
    assert threads.new == processes.new == 7 and not processes.failed
    a, b = Reader(tmp_path / "threads.db"), Reader(tmp_path / "processes.db")
    assert a.counts() == b.counts()
    for path in map(str, lib.iterdir()):
        times_a, vectors_a = a.content_vectors(a.file_by_path(path).content_id)
        times_b, vectors_b = b.content_vectors(b.file_by_path(path).content_id)
        np.testing.assert_array_equal(times_a, times_b)
        np.testing.assert_array_equal(vectors_a, vectors_b)


def test_staged_half_precision_batches_encode_like_plain_ones(encoder, tmp_path):
    staged = MediaEncoder(encoder._model, batch_size=3, staged=True)
    staged.pixel_dtype = np.dtype(np.float16)  # what a half-precision model on CUDA gets
    images = [photo(tmp_path / f"p{i}.jpg", i) for i in range(7)]
    pixels32 = np.stack([encoder.to_array(open_image(p)) for p in images])
    pixels16 = np.stack([staged.to_array(open_image(p)) for p in images])
    assert pixels16.dtype == np.float16
    plain = encoder.encode_pixels(pixels32)
    half = staged.encode_pixels(pixels16)
    assert half.shape == plain.shape and (half * plain).sum(1).min() > 0.999
    same_precision = MediaEncoder(encoder._model, batch_size=3, staged=True).encode_pixels(pixels32)
    np.testing.assert_allclose(same_precision, plain, atol=1e-6)  # the staging buffer is reused safely


def test_the_queue_is_bounded_and_runs_ahead(tmp_path, monkeypatch, encoder):
    for i in range(40):
        photo(tmp_path / f"p{i:02d}.jpg", i)
    files = scan([tmp_path]).files
    position = {f.path: i for i, f in enumerate(files)}
    taken = 0  # outcomes the consumer has received
    started: list[tuple[int, int]] = []  # (file's position in scan order, outcomes taken when its decode started)
    real = prefetch.decode_file

    def recording(file, *args, **kwargs):
        started.append((position[file.path], taken))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(prefetch, "decode_file", recording)
    ahead = prefetch.DecodeAhead(
        files, encoder.to_array, DecodeOptions(encoder.image_size), {}, workers=2, rows_ahead=12
    )
    assert ahead.files_ahead == 12
    outcomes = iter(ahead)
    first = next(outcomes)
    taken = 1
    eventually(lambda: len(started) >= 1 + ahead.files_ahead, "decodes a full queue ahead of the consumer")
    rest = []
    for outcome in outcomes:
        rest.append(outcome)
        taken += 1
    too_far = [(i, t) for i, t in started if i > t + ahead.files_ahead]
    assert not too_far, f"(file, taken) decoded more than a queue ahead: {too_far}"
    assert [o.file.path for o in [first, *rest]] == [f.path for f in files], "in scan order"


def test_the_encoder_does_not_wait_after_the_first_batch(tmp_path, monkeypatch, encoder):
    """While the encoder works on a batch, the next one is decoded: from the second batch on, every file the
    encoder asks for is decoded already. The fake encoder is slower than decoding by construction: it returns only
    once the next batch is decoded (a broken prefetch, decoding only on demand, would never let it return)."""
    for i in range(32):
        photo(tmp_path / "lib" / f"p{i:02d}.jpg", i)
    decoded = threading.Condition()
    decoded_count = 0
    real = prefetch.decode_file

    def counting(*args, **kwargs):
        nonlocal decoded_count
        outcome = real(*args, **kwargs)
        with decoded:
            decoded_count += 1
            decoded.notify_all()
        return outcome

    # per file, in order: was its decode done when the consumer asked for it? (one worker decodes in scan order,
    # so file k is decoded once k + 1 decodes have returned; a future is marked done a moment after its decode
    # returns, so `future.done()` would race with the encoder that was just let go)
    ready_when_asked: list[bool] = []
    real_wait = prefetch.wait

    def asking(futures):
        with decoded:
            ready_when_asked.append(decoded_count > len(ready_when_asked))
        return real_wait(futures)

    class SlowEncoder(MediaEncoder):
        def encode_pixels(self, pixels):
            next_batch_decoded = min(32, (len(batches) + 2) * 8)
            batches.append(len(pixels))
            with decoded:
                assert decoded.wait_for(lambda: decoded_count >= next_batch_decoded, timeout=60), (
                    f"the next batch was not decoded while batch {len(batches)} was encoded"
                )
            return super().encode_pixels(pixels)

    batches: list[int] = []
    monkeypatch.setattr(prefetch, "decode_file", counting)
    monkeypatch.setattr(prefetch, "wait", asking)
    slow = SlowEncoder(encoder._model, batch_size=8)
    summary = index_library(tmp_path / "lib.db", [tmp_path / "lib"], slow, IndexOptions(workers=1, commit_every=0.0))
    assert summary.new == 32 and batches == [8, 8, 8, 8]
    assert len(ready_when_asked) == 32 and all(ready_when_asked[8:]), f"ready when asked: {ready_when_asked}"


def test_encoder_idle_time_is_reported(tmp_path, encoder, caplog):
    for i in range(5):
        photo(tmp_path / "lib" / f"p{i}.jpg", i)
    states = []
    with caplog.at_level(logging.INFO, logger="zhclip.search"):
        summary = index_library(tmp_path / "lib.db", [tmp_path / "lib"], encoder, FAST, states.append)
    assert summary.encode_seconds > 0 and summary.idle_seconds >= 0
    assert any("encoder busy" in m and "idle" in m and "waiting for decoding" in m for m in caplog.messages)
    assert all(0.0 <= s.encoder_idle <= 1.0 for s in states)


@pytest.mark.parametrize("processes", [False, True])
def test_a_hostile_file_is_skipped_in_either_pool(tmp_path, encoder, processes):
    photo(tmp_path / "lib" / "good.jpg", 1)
    (tmp_path / "lib" / "notes.jpg").write_text("not a photo")
    options = IndexOptions(workers=2, commit_every=0.0, decode_processes=processes)
    summary = index_library(tmp_path / "lib.db", [tmp_path / "lib"], encoder, options)
    assert summary.new == 1 and [p.endswith("notes.jpg") for p, _ in summary.failed] == [True]
    assert threading.active_count() < 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_decode_threads_run_at_a_lower_priority_than_the_encoder(tmp_path, monkeypatch, encoder):
    for i in range(3):
        photo(tmp_path / f"p{i}.jpg", i)
    niceness: list[int] = []
    real = prefetch.decode_file

    def recording(file, *args, **kwargs):
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(prefetch, "decode_file", recording)
    ahead = prefetch.DecodeAhead(
        scan([tmp_path]).files, encoder.to_array, DecodeOptions(encoder.image_size), {}, workers=2, rows_ahead=4
    )
    assert len(list(ahead)) == 3
    assert niceness == [prefetch.DECODE_NICENESS] * 3
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < prefetch.DECODE_NICENESS, "not the encoder"
