"""Browser origins: what an allowed origin is, and which CORS headers are allowed or exposed."""

from __future__ import annotations

import pytest

from shared.domain import origins
from shared.domain.origins import (
    ALLOWED_REQUEST_HEADERS,
    EXPOSED_RESPONSE_HEADERS,
    MAX_ORIGIN_CHARS,
    allowed_request_headers,
    normalise_origin,
    refused_request_headers,
    request_origin,
)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("https://a.example.com:0443", "https://a.example.com"),
        ("https://a.example.com:08443", "https://a.example.com:8443"),
        ("http://a", "http://a"),
        ("https://x-1.example.com:1", "https://x-1.example.com:1"),
        ("https://x.example.com:65535", "https://x.example.com:65535"),
        ("http://example.com:443", "http://example.com:443"),  # 443 is not http's default
        ("https://example.com:80", "https://example.com:80"),
    ],
)
def test_origins_are_stored_normalised(given: str, stored: str) -> None:
    assert normalise_origin(given) == stored


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("*", "wildcards are refused"),
        ("https://*.example.com", "wildcards are refused"),
        ("null", "'null' is refused"),
        (" NULL ", "'null' is refused"),
        ("", "non-empty"),
        ("https://app.example.com/", "is not an origin"),
        ("https://app.example.com/path", "is not an origin"),
        ("https://app.example.com?x=1", "is not an origin"),
        ("https://user@app.example.com", "is not an origin"),
        ("ftp://app.example.com", "is not an origin"),
        ("app.example.com", "is not an origin"),
        ("https://", "is not an origin"),
        ("https://-bad.example.com", "is not an origin"),
        ("https://app.example.com:", "is not an origin"),
        ("https://app.example.com:123456", "is not an origin"),
        ("https://app.example.com:0", "between 1 and 65535"),
        ("https://app.example.com:65536", "between 1 and 65535"),
        (" https://app.example.com", "is not an origin"),
        ("https://app.example.com\n", "is not an origin"),
    ],
)
def test_anything_but_an_exact_origin_is_refused(given: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        normalise_origin(given)
    assert problem in str(raised.value)


def test_an_origin_is_bounded_in_length() -> None:
    assert MAX_ORIGIN_CHARS == 2048
    host = "a" * (MAX_ORIGIN_CHARS - len("https://"))
    assert normalise_origin("https://" + host) == "https://" + host
    with pytest.raises(ValueError, match="at most 2048 characters"):
        normalise_origin("https://" + host + "b")


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        normalise_origin(None)  # type: ignore[arg-type]


def test_the_request_origin_is_normalised_or_none() -> None:
    assert request_origin("HTTPS://App.example.com:443") == "https://app.example.com"
    assert request_origin("  https://app.example.com  ") == "https://app.example.com"
    assert request_origin(None) is None
    assert request_origin("") is None
    assert request_origin("null") is None
    assert request_origin("https://app.example.com/x") is None


def test_a_preflight_allows_our_headers_and_the_sdk_families() -> None:
    assert allowed_request_headers(None) == list(ALLOWED_REQUEST_HEADERS)
    assert allowed_request_headers("") == list(ALLOWED_REQUEST_HEADERS)
    asked = "Content-Type, X-Stainless-Lang,x-stainless-os , X-Unknown, authorization"
    allowed = allowed_request_headers(asked)
    assert allowed == [*ALLOWED_REQUEST_HEADERS, "x-stainless-lang", "x-stainless-os"]
    assert allowed_request_headers("x-stainless-os, X-Stainless-OS") == [
        *ALLOWED_REQUEST_HEADERS,
        "x-stainless-os",
    ]
    assert refused_request_headers(asked) == ["X-Unknown"]
    assert refused_request_headers("x-api-key, X-DR.GERO-API-KEY, idempotency-key") == []
    assert refused_request_headers(None) == []
    assert refused_request_headers("x-stainless") == ["x-stainless"]  # the family needs a name


def test_the_header_lists_are_the_documented_ones() -> None:
    assert {h.lower() for h in ALLOWED_REQUEST_HEADERS} >= {
        "authorization", "x-api-key", "x-dr.gero-api-key", "content-type", "idempotency-key",
        "x-drgero-timeout", "anthropic-version",
    }  # fmt: skip
    assert origins.ALLOWED_REQUEST_HEADER_PREFIXES == ("x-stainless-",)
    assert "X-Request-Id" in EXPOSED_RESPONSE_HEADERS
    assert "X-DrGero-Trace-Id" in EXPOSED_RESPONSE_HEADERS
