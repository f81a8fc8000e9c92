"""The inference hot-path cache: bounded, and misses cannot flush what is found."""

from __future__ import annotations

import secrets
from collections import Counter

from shared.services.hotcache import TtlCache


def _loader(loads: Counter, value: object):
    def load() -> object:
        loads[value] += 1
        return value

    return load


def test_20000_random_bad_tokens_do_not_evict_a_valid_token_s_entry():
    cache = TtlCache(ttl=60.0)
    loads: Counter = Counter()
    assert cache.get("valid-token", _loader(loads, "record")) == "record"
    for _ in range(20_000):
        assert cache.get(secrets.token_hex(16), _loader(loads, None)) is None
    assert cache.get("valid-token", _loader(loads, "record")) == "record"
    assert loads["record"] == 1  # served from the cache: the flood did not flush it


def test_misses_are_cached_but_bounded_on_their_own():
    cache = TtlCache(ttl=60.0, max_entries=100, max_misses=10)
    loads: Counter = Counter()
    for i in range(50):
        cache.get(f"bad-{i}", _loader(loads, None))
    assert cache.sizes() == {"found": 0, "missing": 10}
    cache.get("bad-49", _loader(loads, None))  # the newest misses are still cached
    assert loads[None] == 50
    cache.get("bad-0", _loader(loads, None))  # the oldest were evicted
    assert loads[None] == 51


def test_found_entries_past_the_bound_evict_the_least_recently_used_only():
    cache = TtlCache(ttl=60.0, max_entries=100)
    loads: Counter = Counter()
    for i in range(100):
        cache.get(i, _loader(loads, f"v{i}"))
    cache.get(0, _loader(loads, "v0"))  # used again: now the most recent
    cache.get(100, _loader(loads, "v100"))  # one too many: evicts 1, the least recent
    assert cache.sizes()["found"] == 100
    for i in (0, 2, 50, 99, 100):
        cache.get(i, _loader(loads, f"v{i}"))
        assert loads[f"v{i}"] == 1, i
    cache.get(1, _loader(loads, "v1"))
    assert loads["v1"] == 2


def test_entries_expire_after_the_ttl():
    cache = TtlCache(ttl=0.0)
    loads: Counter = Counter()
    cache.get("k", _loader(loads, "v"))
    cache.get("k", _loader(loads, "v"))
    assert loads["v"] == 2
