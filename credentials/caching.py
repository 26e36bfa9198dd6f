"""A thread-safe LRU cache for the processing caches of the library."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from cachetools import LRUCache


class SharedCache:
    """A small LRU cache safe to use from several threads (FastAPI runs sync endpoints in a
    thread pool); values must be treated as read-only by callers."""

    def __init__(self, maxsize: int) -> None:
        self._data: LRUCache[Any, Any] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The cached value or None."""
        with self._lock:
            return self._data.get(key)

    def put(self, key: Any, value: Any) -> None:
        """Store a value (evicting the least recently used one when full)."""
        with self._lock:
            self._data[key] = value

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
