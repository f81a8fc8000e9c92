"""A small time-bounded cache for the inference hot path.

Inference must not pay a database round trip per call for what rarely changes: the token, the
leaderboard, its candidate models and their endpoints (with the provider keys they decrypt).
Entries live ``ttl`` seconds (``inference_cache_seconds``, 5 by default), so a change (a
revoked token, a new selection, a rotated provider key) takes effect within that bound on every
instance. Budget checks do not rely on it: spend is read fresh (see ``shared.services.inference``).

Two bounded LRU maps, one for what was found and one for misses (a load that answered
``None``: an unknown token, a deleted leaderboard). Misses are cached too (a caller retrying a
bad token should not cost a read each time), but in their own smaller map: a flood of random
tokens evicts only other misses, never a tenant's cached token or leaderboard. Past a bound
the least recently used entry goes, one at a time; nothing is ever cleared whole.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class TtlCache:
    def __init__(self, *, ttl: float, max_entries: int = 10_000, max_misses: int = 1_000) -> None:
        self._ttl = ttl
        self._found = _Lru(max_entries)
        self._missing = _Lru(max_misses)
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            for entries in (self._found, self._missing):
                hit = entries.fresh(key, now)
                if hit is not None:
                    return hit[1]
        value = load()
        with self._lock:
            (self._missing if value is None else self._found).put(key, now + self._ttl, value)
            (self._found if value is None else self._missing).drop(key)
        return value

    def sizes(self) -> dict[str, int]:
        """How many entries each map holds (for tests and diagnostics)."""
        with self._lock:
            return {"found": len(self._found), "missing": len(self._missing)}

    def drop(self, key: Any) -> None:
        """Forget ``key`` (found or missing): the next ``get`` loads it."""
        with self._lock:
            self._found.drop(key)
            self._missing.drop(key)


class _Lru(OrderedDict[Any, tuple[float, Any]]):
    """Entries in use order (most recent last), at most ``limit`` of them. Not thread-safe."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = max(1, limit)

    def fresh(self, key: Any, now: float) -> tuple[float, Any] | None:
        hit = self.get(key)
        if hit is None:
            return None
        if hit[0] <= now:
            del self[key]
            return None
        self.move_to_end(key)
        return hit

    def put(self, key: Any, expires: float, value: Any) -> None:
        self[key] = (expires, value)
        self.move_to_end(key)
        while len(self) > self._limit:
            self.popitem(last=False)

    def drop(self, key: Any) -> None:
        self.pop(key, None)


class Caches:
    """An instance's hot-path caches by name (tokens, leaderboards, origin grants, ...), each
    built on first use. One lives in ``Deps``: a new ``Deps`` (``bootstrap.reset()``) starts
    cold."""

    def __init__(self) -> None:
        self._caches: dict[str, TtlCache] = {}
        self._lock = threading.Lock()

    def get(self, name: str, *, ttl: float, max_entries: int, max_misses: int) -> TtlCache:
        with self._lock:
            if name not in self._caches:
                self._caches[name] = TtlCache(
                    ttl=ttl, max_entries=max_entries, max_misses=max_misses
                )
            return self._caches[name]
