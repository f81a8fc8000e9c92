"""Google's ID-token certificates, fetched from a certs endpoint the test runs: cached as its
Cache-Control says (within our bound), refetched for an unknown key at most once per interval,
and bounded in size and time. The local token stand-in's client caches per audience."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import pytest

from shared.providers.google_identity import (
    CertsLimits,
    GoogleCerts,
    IdentityUnavailable,
    IdTokenSource,
)
from simulator.server import Simulator
from tests.oidc_support import CertsServer, SigningKey

LIMITS = CertsLimits(
    max_bytes=64 * 1024, timeout_seconds=2.0, max_cache_seconds=600, min_refetch_seconds=30
)


class Clock:
    """Monotonic time the test moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def server(key: SigningKey) -> Iterator[CertsServer]:
    running = CertsServer(key, max_age=300)
    yield running
    running.stop()


def certs_of(server: CertsServer, clock: Clock, limits: CertsLimits = LIMITS) -> GoogleCerts:
    return GoogleCerts(url=server.url, limits=limits, clock=clock)


def test_certs_are_fetched_once_and_kept_for_their_max_age(server, key):
    clock = Clock()
    certs = certs_of(server, clock)
    assert certs.certificate(key.key_id) == key.certificate_pem
    clock.now += 299
    assert certs.certificate(key.key_id) == key.certificate_pem
    assert server.hits == 1
    clock.now += 2  # past max-age=300
    assert certs.certificate(key.key_id) == key.certificate_pem
    assert server.hits == 2


def test_a_long_max_age_is_capped(server, key):
    server.max_age = 86400
    clock = Clock()
    certs = certs_of(server, clock)
    certs.certificate(key.key_id)
    clock.now += LIMITS.max_cache_seconds + 1
    certs.certificate(key.key_id)
    assert server.hits == 2


def test_an_unknown_key_refetches_at_most_once_per_interval(server, key):
    clock = Clock()
    certs = certs_of(server, clock)
    certs.certificate(key.key_id)
    assert certs.certificate("made-up") is None
    assert server.hits == 1  # fetched moments ago: no refetch yet
    clock.now += LIMITS.min_refetch_seconds
    for _ in range(5):  # a flood of made-up key ids: one refetch
        assert certs.certificate(f"made-up-{_}") is None
    assert server.hits == 2
    clock.now += LIMITS.min_refetch_seconds
    assert certs.certificate("made-up") is None
    assert server.hits == 3


def test_a_rotated_key_is_found_by_refetching(server, key):
    clock = Clock()
    certs = certs_of(server, clock)
    certs.certificate(key.key_id)
    rotated = SigningKey()
    server.serve(key, rotated)
    clock.now += LIMITS.min_refetch_seconds
    assert certs.certificate(rotated.key_id) == rotated.certificate_pem
    assert server.hits == 2


def test_a_certs_answer_past_the_size_limit_is_refused(server):
    server.serve_raw(b'{"k": "' + b"x" * 70_000 + b'"}')
    with pytest.raises(IdentityUnavailable) as caught:
        certs_of(server, Clock()).certificate("k")
    assert "DRGERO_OIDC_CERTS_MAX_BYTES" in caught.value.message
    assert "65536" in caught.value.message


def test_a_gzip_bomb_stops_at_the_size_limit(server):
    server.serve_raw(gzip.compress(b'{"k": "' + b"x" * 5_000_000 + b'"}'))
    server.extra_headers = {"Content-Encoding": "gzip"}
    with pytest.raises(IdentityUnavailable, match="DRGERO_OIDC_CERTS_MAX_BYTES"):
        certs_of(server, Clock()).certificate("k")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{}", 500, "HTTP 500"),
        (b"<html>", 200, "not JSON"),
        (b'{"k": "not a certificate"}', 200, "PEM certificate map"),
        (b'["a"]', 200, "PEM certificate map"),
    ],
)
def test_a_broken_certs_answer_is_unavailable_and_not_refetched_at_once(
    server, body, status, reason
):
    server.serve_raw(body, status=status)
    clock = Clock()
    certs = certs_of(server, clock)
    for _ in range(3):
        with pytest.raises(IdentityUnavailable, match=reason):
            certs.certificate("k")
    assert server.hits == 1  # the failure is repeated, Google is not hammered
    clock.now += LIMITS.min_refetch_seconds
    with pytest.raises(IdentityUnavailable):
        certs.certificate("k")
    assert server.hits == 2


def test_a_failed_refetch_keeps_the_cached_keys(server, key):
    clock = Clock()
    certs = certs_of(server, clock)
    certs.certificate(key.key_id)
    server.serve_raw(b"down", status=503)
    clock.now += LIMITS.min_refetch_seconds
    assert certs.certificate("rotated?") is None
    assert certs.certificate(key.key_id) == key.certificate_pem


def test_a_certs_endpoint_that_never_answers_times_out():
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/certs"
        limits = CertsLimits(timeout_seconds=0.3)
        with pytest.raises(IdentityUnavailable, match="could not be read"):
            GoogleCerts(url=url, limits=limits).certificate("k")
    finally:
        silent.close()


def test_local_tokens_are_cached_per_audience_and_email():
    with Simulator() as simulator:
        tokens = IdTokenSource(url=simulator.env()["DRGERO_DEV_ID_TOKEN_URL"])
        first = tokens.token(audience="http://a", email="t@p.iam.gserviceaccount.com")
        assert tokens.token(audience="http://a", email="t@p.iam.gserviceaccount.com") == first
        other = tokens.token(audience="http://b", email="t@p.iam.gserviceaccount.com")
        assert other != first
    with pytest.raises(IdentityUnavailable, match="could not be reached"):
        tokens.token(audience="http://c", email="t@p.iam.gserviceaccount.com")
