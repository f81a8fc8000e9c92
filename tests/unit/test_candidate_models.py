"""Candidate model endpoints as clients send them: which URLs are accepted."""

import pytest
from pydantic import ValidationError

from shared.domain.candidates import CustomModelIn, HuggingFaceModelIn

ACCEPTED = [
    "https://api.example.com/v1/chat/completions",
    "http://10.0.0.7:8080/v1",
    "https://[2001:db8::1]:443/v1?x=1",
    "https://xn--bcher-kva.example/chat",
]
REFUSED = [
    "ftp://example.com/model",
    "example.com/v1",
    "HTTPS://example.com/v1",  # the scheme is matched as written
    "https://example.com/a b",
    "https://example.com:65536/v1",
    "https://bücher.example/chat",
    "https://",
]


@pytest.mark.parametrize("model", [CustomModelIn, HuggingFaceModelIn])
@pytest.mark.parametrize("url", ACCEPTED)
def test_http_and_https_endpoints_are_accepted_as_given(model, url):
    platform = "custom" if model is CustomModelIn else "huggingface"
    assert model.model_validate({"platform": platform, "endpoint": url}).endpoint == url


@pytest.mark.parametrize("model", [CustomModelIn, HuggingFaceModelIn])
@pytest.mark.parametrize("url", REFUSED)
def test_other_endpoints_are_refused(model, url):
    platform = "custom" if model is CustomModelIn else "huggingface"
    with pytest.raises(ValidationError):
        model.model_validate({"platform": platform, "endpoint": url})


# Rules mutmut does not reach (it skips decorated functions such as pydantic validators).


def custom(**fields):
    return CustomModelIn.model_validate(
        {"platform": "custom", "endpoint": "https://api.example.com/v1", **fields}
    )


def test_auth_with_a_method_needs_its_token_and_a_header_needs_its_name():
    assert custom().auth.method == "none"
    assert custom(auth={"method": "bearer", "token": "s3cret"}).auth.token.get_secret_value() == (
        "s3cret"
    )
    header = custom(auth={"method": "header", "token": "s3cret", "header_name": "X-Api-Key"})
    assert header.auth.header_name == "X-Api-Key"
    for auth in (
        {"method": "bearer"},
        {"method": "bearer", "token": ""},
        {"method": "header", "token": "s3cret"},
        {"method": "header", "header_name": "X-Api-Key"},
    ):
        with pytest.raises(ValidationError):
            custom(auth=auth)


def test_a_json_response_needs_the_answer_s_field():
    assert custom(response={"format": "json", "field": "output.text"}).response.field == (
        "output.text"
    )
    assert custom(response={"format": "text"}).response.field is None
    with pytest.raises(ValidationError):
        custom(response={"format": "json"})
