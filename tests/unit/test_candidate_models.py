"""Candidate model endpoints as clients send them: which URLs are accepted."""

import pytest
from pydantic import ValidationError

from shared.domain.models import CustomModelIn, HuggingFaceModelIn

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
