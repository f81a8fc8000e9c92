"""The retry helper, Retry-After parsing, error translation and scrubbing (no network)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.providers.errors import (
    InvalidUpstreamResponse,
    ModelConfigInvalid,
    ProviderError,
    RateLimited,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.providers.http import (
    call_with_retries,
    checked_endpoint_url,
    error_for_status,
    parse_retry_after,
    provider_message_of,
    scrub_secrets,
)
from tests.providers import never_sleep


class Flaky:
    """Raises the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def unavailable() -> UpstreamUnavailable:
    return UpstreamUnavailable("down", status=500)


# --- call_with_retries ---------------------------------------------------------------------


def test_retries_retryable_errors_until_success() -> None:
    slept: list[float] = []
    fn = Flaky(unavailable(), UpstreamTimeout("slow"))
    assert call_with_retries(fn, sleep=slept.append, rng=random.Random(1)) == "ok"
    assert fn.calls == 3
    assert len(slept) == 2


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    slept: list[float] = []
    fn = Flaky(*[unavailable() for _ in range(6)])
    with pytest.raises(UpstreamUnavailable):
        call_with_retries(
            fn, attempts=6, base_delay=1.0, max_delay=5.0, sleep=slept.append, rng=random.Random(7)
        )
    caps = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(slept) == 5
    assert all(0.0 <= delay <= cap for delay, cap in zip(slept, caps, strict=True))


def test_exhaustion_reraises_the_last_error() -> None:
    last = UpstreamUnavailable("third", status=503)
    fn = Flaky(unavailable(), unavailable(), last)
    with pytest.raises(UpstreamUnavailable) as info:
        call_with_retries(fn, attempts=3, sleep=lambda _: None)
    assert info.value is last
    assert fn.calls == 3


def test_non_retryable_errors_are_not_retried() -> None:
    for error in (
        UpstreamAuthFailed("no", status=401),
        UpstreamRejected("bad", status=400),
        InvalidUpstreamResponse("garbled"),
    ):
        fn = Flaky(error)
        with pytest.raises(type(error)):
            call_with_retries(fn, sleep=never_sleep)
        assert fn.calls == 1


def test_retry_after_is_a_minimum_wait() -> None:
    slept: list[float] = []
    fn = Flaky(RateLimited("slow down", status=429, retry_after=3.0))
    call_with_retries(fn, base_delay=0.01, sleep=slept.append)
    assert slept == [3.0]


def test_gives_up_when_retry_after_would_pass_the_deadline() -> None:
    fn = Flaky(RateLimited("slow down", status=429, retry_after=5.0))
    with pytest.raises(RateLimited):
        call_with_retries(fn, deadline=time.monotonic() + 1.0, sleep=never_sleep)
    assert fn.calls == 1


def test_gives_up_when_retry_after_exceeds_max_delay() -> None:
    fn = Flaky(RateLimited("come back in an hour", status=429, retry_after=3600.0))
    with pytest.raises(RateLimited):
        call_with_retries(fn, max_delay=20.0, sleep=never_sleep)


def test_other_exceptions_pass_straight_through() -> None:
    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retries(broken, sleep=never_sleep)


# --- Retry-After -----------------------------------------------------------------------------


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0
    for garbage in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(garbage) is None


# --- translation and scrubbing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, RateLimited, True),
        (408, UpstreamTimeout, True),
        (500, UpstreamUnavailable, True),
        (502, UpstreamUnavailable, True),
        (503, UpstreamUnavailable, True),
        (401, UpstreamAuthFailed, False),
        (403, UpstreamAuthFailed, False),
        (400, UpstreamRejected, False),
        (402, UpstreamRejected, False),
        (404, UpstreamRejected, False),
        (302, InvalidUpstreamResponse, False),
    ],
)
def test_status_mapping(status: int, kind: type[ProviderError], retryable: bool) -> None:
    error = error_for_status(status, label="openrouter:x/y", provider_message=None, retry_after=2)
    assert type(error) is kind
    assert error.retryable is retryable
    assert error.status == status
    assert error.message.startswith("openrouter:x/y: ")


def test_provider_messages_from_the_usual_error_shapes() -> None:
    openrouter = {"error": {"code": 502, "message": "down", "metadata": {"provider_name": "Acme"}}}
    assert provider_message_of(openrouter) == "down [provider: Acme]"
    assert provider_message_of({"error": "Model is overloaded", "error_type": "overloaded"}) == (
        "Model is overloaded"
    )
    assert provider_message_of({"detail": "Not authenticated"}) == "Not authenticated"
    assert provider_message_of({"detail": [{"loc": ["body"], "msg": "bad"}]}) is not None
    assert provider_message_of(["not", "an", "object"]) is None


def test_scrubbing_masks_sent_secrets_and_key_shapes() -> None:
    text = (
        "key sk-or-v1-abcdefghijklmnop rejected; token hf_abcdefghijklmnopq; "
        "header Authorization: Bearer custom-secret-123; mine: my-own-secret-value"
    )
    scrubbed = scrub_secrets(text, ["my-own-secret-value", None])
    for secret in ("abcdefghijklmnop", "hf_abcdefghijklmnopq", "custom-secret-123", "my-own"):
        assert secret not in scrubbed
    assert "rejected" in scrubbed


def test_error_text_carries_the_scrubbed_provider_message() -> None:
    error = error_for_status(
        401,
        label="custom:x",
        provider_message="bad key sk-or-v1-0123456789abcdef",
        retry_after=None,
    )
    assert "0123456789abcdef" not in str(error)
    assert "bad key" in str(error)


# --- endpoint URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/model",
        "not a url",
        "http:///no-host",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/x",
    ],
)
def test_unusable_or_dangerous_endpoint_urls_are_refused(url: str) -> None:
    with pytest.raises(ModelConfigInvalid):
        checked_endpoint_url(url)


def test_ordinary_endpoint_urls_are_accepted() -> None:
    assert checked_endpoint_url("https://api.example.com/v1/chat").host == "api.example.com"
    assert checked_endpoint_url("http://127.0.0.1:8000/custom/chat").port == 8000
