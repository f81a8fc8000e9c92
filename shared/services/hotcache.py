"""A small time-bounded cache for the inference hot path.

Inference must not pay a database round trip per call for what rarely changes: the token, the
leaderboard, its candidate models and their endpoints (with the provider keys they decrypt).
Entries live ``ttl`` seconds (``inference_cache_seconds``, 5 by default), so a change (a
revoked token, a new selection, a rotated provider key) takes effect within that bound on every
instance. Budget checks do not rely on it: spend is read fresh (see ``inference.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class TtlCache:
    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = load()
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # crude but bounded; entries are cheap to reload
            self._entries[key] = (now + self._ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
