"""A least-recently-used cache of query-text embeddings, keyed by (model identity, text): the same query asked
again (the next page, a changed filter, a reload, another client) skips the text tower. Shared by request threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

CAPACITY = 1024  # vectors (a 768-wide float32 vector is 3 KiB)


class QueryCache:
    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[tuple[Hashable, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, model: Hashable, text: str, encode: Callable[[str], np.ndarray]) -> np.ndarray:
        """The cached vector of `text` under `model` (e.g. a `ModelIdentity`), else `encode(text)`, kept.

        The vector is read-only: callers share it. Encoding runs outside the lock, so one slow query does not
        hold up the others (two threads asking for the same new text may both encode it)."""
        key = (model, text)
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
                self.hits += 1
                return vector
            self.misses += 1
        vector = np.array(encode(text), np.float32)
        vector.setflags(write=False)
        with self._lock:
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
        return vector
