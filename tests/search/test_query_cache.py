"""The query-text embedding cache: hits skip the encoder, least recently used entries go first, models apart."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from zhclip.search.query_cache import QueryCache


class CountingEncoder:
    def __init__(self, offset: float = 0.0):
        self.calls: list[str] = []
        self.offset = offset

    def __call__(self, text: str) -> np.ndarray:
        self.calls.append(text)
        return np.array([len(text), self.offset], np.float32)


def test_a_repeated_query_is_encoded_once():
    cache, encode = QueryCache(), CountingEncoder()
    first = cache.get("model-a", "红色的汽车", encode)
    again = cache.get("model-a", "红色的汽车", encode)
    assert encode.calls == ["红色的汽车"] and again is first and (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first, [5, 0])


def test_cached_vectors_are_read_only():
    vector = QueryCache().get("m", "猫", CountingEncoder())
    with pytest.raises(ValueError):
        vector[0] = 1.0


def test_the_least_recently_used_text_is_dropped_first():
    cache, encode = QueryCache(capacity=2), CountingEncoder()
    cache.get("m", "一", encode)
    cache.get("m", "二", encode)
    cache.get("m", "一", encode)  # now "二" is the least recently used
    cache.get("m", "三", encode)
    assert len(cache) == 2
    cache.get("m", "一", encode)
    cache.get("m", "二", encode)
    assert encode.calls == ["一", "二", "三", "二"]


def test_models_do_not_share_entries():
    cache, a, b = QueryCache(), CountingEncoder(0.0), CountingEncoder(1.0)
    assert cache.get("model-a", "狗", a)[1] == 0.0
    assert cache.get("model-b", "狗", b)[1] == 1.0
    assert a.calls == ["狗"] and b.calls == ["狗"]


def test_threads_share_one_cache():
    cache, encode = QueryCache(capacity=64), CountingEncoder()
    texts = [f"查询{i}" for i in range(32)]
    cache.get("m", texts[0], encode)

    def ask():
        for text in texts:
            cache.get("m", text, encode)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 32 and cache.hits + cache.misses == 1 + 4 * 32
    assert set(encode.calls) == set(texts)
