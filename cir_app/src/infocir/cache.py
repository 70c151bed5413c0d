"""One bounded, thread-safe LRU cache for the process-wide caches (text and image features,
explanations, background jobs): each keeps at most ``size`` entries and drops the least recently
used, calling ``on_evict`` for it (e.g. to cancel an evicted job)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    def __init__(self, size: int, on_evict: Callable[[V], None] | None = None):
        if size < 1:
            raise ValueError("a cache holds at least one entry")
        self.size, self._on_evict = size, on_evict
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: V | None = None) -> V | None:
        """The value (now the most recently used), or ``default``."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return default

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key: Hashable, value: V) -> None:
        evicted = []
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                evicted.append(self._data.popitem(last=False)[1])
        if self._on_evict:
            for v in evicted:
                self._on_evict(v)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
