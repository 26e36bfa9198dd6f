"""A thread-safe LRU cache for the processing caches of the library."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any


class SharedCache:
    """A small LRU cache safe to use from several threads (FastAPI runs sync endpoints in a
    thread pool); values must be treated as read-only by callers.

    An ``OrderedDict`` under a lock: every operation is a few C calls, which matters on the
    verification path (several lookups per credential)."""

    def __init__(self, maxsize: int) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The cached value or None (a hit becomes the most recently used)."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        """Store a value (evicting the least recently used one when full)."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def values(self) -> list[Any]:
        """A snapshot of the cached values."""
        with self._lock:
            return list(self._data.values())


def text_key(text: str) -> bytes:
    """Cache key for a JSON text: its SHA-256 (collision-resistant, so keying on the digest
    is keying on the exact text, without holding large texts in memory)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
