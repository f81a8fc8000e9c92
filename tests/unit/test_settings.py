"""Settings refuse, at cold start, what would quietly weaken the service."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings

GOOD_KEY = "k" * 32


@pytest.mark.parametrize("key", ["", " ", "\t\n", "s3cr3t", "k" * 31, " " + "k" * 30 + " "])
def test_an_empty_or_short_internal_key_is_refused(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(internal_key=key)
    message = str(caught.value)
    assert "DRGERO_INTERNAL_KEY" in message and "32" in message
    if key.strip():
        assert key.strip() not in message  # the error never shows the key itself


def test_a_long_internal_key_is_kept_without_surrounding_whitespace() -> None:
    settings = Settings(internal_key=f" {GOOD_KEY}\n")  # `openssl rand -hex 32` ends in \n
    assert settings.internal_key is not None
    assert settings.internal_key.get_secret_value() == GOOD_KEY


def test_no_internal_key_keeps_internal_endpoints_closed() -> None:
    assert Settings(internal_key=None).internal_key is None


def test_the_minimum_key_length_cannot_be_lowered_below_a_floor() -> None:
    with pytest.raises(ValidationError):
        Settings(internal_key_min_length=8)
    assert Settings(internal_key_min_length=48, internal_key="k" * 48).internal_key is not None
    with pytest.raises(ValidationError):
        Settings(internal_key_min_length=48, internal_key="k" * 40)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_max_json_depth", 0),
        ("inference_min_client_timeout_seconds", 0),
        ("inference_min_client_timeout_seconds", float("nan")),
    ],
)
def test_limits_must_be_positive(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})
