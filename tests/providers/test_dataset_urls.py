"""Dataset URL forms users paste, resolved to download URLs on HF_ENDPOINT (no network)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.providers.errors import DatasetUrlInvalid
from shared.providers.huggingface import HuggingFaceHub
from shared.providers.huggingface_urls import parse_dataset_url

ENDPOINT = "http://127.0.0.1:9999"


@pytest.fixture(scope="module")
def hub() -> Iterator[HuggingFaceHub]:
    # Resolution makes no request; the client is never used here.
    with httpx.Client() as client:
        yield HuggingFaceHub(client=client, endpoint=ENDPOINT + "/", token=None)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "hf://datasets/acme/support/data/train.jsonl",
            "/datasets/acme/support/resolve/main/data/train.jsonl",
        ),
        (
            "hf://datasets/acme/support@v2/train.jsonl.gz",
            "/datasets/acme/support/resolve/v2/train.jsonl.gz",
        ),
        (
            "hf://datasets/acme/support@refs/pr/3/train.jsonl",
            "/datasets/acme/support/resolve/refs%2Fpr%2F3/train.jsonl",
        ),
        (
            "hf://datasets/acme/support@refs%2Fpr%2F3/train.jsonl",
            "/datasets/acme/support/resolve/refs%2Fpr%2F3/train.jsonl",
        ),
        (
            "https://huggingface.co/datasets/acme/support/resolve/main/train.jsonl",
            "/datasets/acme/support/resolve/main/train.jsonl",
        ),
        (
            "https://huggingface.co/datasets/acme/support/resolve/main/train.jsonl?download=true",
            "/datasets/acme/support/resolve/main/train.jsonl",
        ),
        (
            "https://huggingface.co/datasets/acme/support/blob/dev/dir/train.jsonl.gz",
            "/datasets/acme/support/resolve/dev/dir/train.jsonl.gz",
        ),
        (
            "https://hf.co/datasets/acme/support/resolve/refs%2Fconvert%2Fparquet/a.jsonl",
            "/datasets/acme/support/resolve/refs%2Fconvert%2Fparquet/a.jsonl",
        ),
        (
            "https://huggingface.co/datasets/acme/support/resolve/refs/pr/7/a.jsonl",
            "/datasets/acme/support/resolve/refs%2Fpr%2F7/a.jsonl",
        ),
        (
            "https://huggingface.co/datasets/acme/support/resolve/main/with%20space.jsonl",
            "/datasets/acme/support/resolve/main/with%20space.jsonl",
        ),
        (  # the configured endpoint's own URLs (the local simulator) are accepted as pasted
            ENDPOINT + "/datasets/acme/support/resolve/main/train.JSONL",
            "/datasets/acme/support/resolve/main/train.JSONL",
        ),
    ],
)
def test_accepted_forms_resolve_on_the_endpoint(
    hub: HuggingFaceHub, url: str, expected: str
) -> None:
    assert hub.resolve_dataset_url(url) == ENDPOINT + expected


def test_parse_returns_the_parts() -> None:
    assert parse_dataset_url("hf://datasets/o/n@rev/a/b.jsonl") == ("o", "n", "rev", "a/b.jsonl")


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("https://huggingface.co/datasets/acme/support", "dataset page"),
        ("https://huggingface.co/datasets/acme/support/tree/main", "dataset page"),
        ("https://huggingface.co/acme/model/resolve/main/train.jsonl", "not a dataset URL"),
        ("https://example.com/datasets/acme/x/resolve/main/train.jsonl", "not on huggingface.co"),
        ("hf://acme/model/train.jsonl", "only dataset repos"),
        ("hf://datasets/acme/train.jsonl", "expected hf://datasets"),
        ("hf://datasets/acme/support@/train.jsonl", "empty"),
        ("hf://datasets/acme/support/train.csv", ".jsonl or .jsonl.gz"),
        ("https://huggingface.co/datasets/a/b/resolve/main/train.parquet", ".jsonl or .jsonl.gz"),
        ("hf://datasets/acme/support/../secret.jsonl", "not valid"),
        ("s3://bucket/train.jsonl", "not a Hugging Face dataset URL"),
        ("", "not a Hugging Face dataset URL"),
    ],
)
def test_other_urls_are_refused_with_a_helpful_message(
    hub: HuggingFaceHub, url: str, hint: str
) -> None:
    with pytest.raises(DatasetUrlInvalid) as info:
        hub.resolve_dataset_url(url)
    assert hint in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        # dot segments in every part, as written, percent-encoded and double-encoded
        ("hf://datasets/../secret/train.jsonl", "owner '..'"),
        ("hf://datasets/acme/../train.jsonl", "name '..'"),
        ("hf://datasets/acme/x@../train.jsonl", "revision '..'"),
        ("hf://datasets/acme/x@./train.jsonl", "revision '.'"),
        ("https://huggingface.co/datasets/%2e%2e/x/resolve/main/train.jsonl", "owner '..'"),
        ("https://huggingface.co/datasets/acme/%2E%2E/resolve/main/train.jsonl", "name '..'"),
        ("https://huggingface.co/datasets/acme/x/resolve/../train.jsonl", "revision '..'"),
        ("https://huggingface.co/datasets/acme/x/resolve/%2e%2e/train.jsonl", "revision '..'"),
        ("https://huggingface.co/datasets/acme/x/resolve/main/a/%2e%2e/b.jsonl", "path"),
        ("https://huggingface.co/datasets/acme/x/resolve/main/a%2F..%2Fb.jsonl", "path"),
        ("hf://datasets/acme/x/%252e%252e/b.jsonl", "percent-encoded"),
        ("hf://datasets/acme/x@%252e%252e/b.jsonl", "percent-encoded"),
        ("hf://datasets/%252e%252e/x/b.jsonl", "owner"),
        ("hf://datasets/acme/x/a/%252F/b.jsonl", "percent-encoded"),
        # empty segments
        ("hf://datasets/acme/x/a//b.jsonl", "empty"),
        ("https://huggingface.co/datasets/acme/x/resolve/main//b.jsonl", "empty"),
        ("hf://datasets/acme/x@refs//pr/b.jsonl", "empty segment"),
        # backslashes (some servers read them as "/"), raw or encoded
        ("hf://datasets/acme/x/a\\..\\b.jsonl", "backslash"),
        ("hf://datasets/acme/x/a%5C..%5Cb.jsonl", "backslash"),
        ("hf://datasets/acme%5C..@main/b.jsonl", "owner"),
        ("hf://datasets/acme/x@main%5C..%5C/b.jsonl", "backslash"),
        # control characters, and names the Hub would not have
        ("hf://datasets/acme/x/a%0Ab.jsonl", "control character"),
        ("hf://datasets/acme/x@ma%00in/b.jsonl", "control character"),
        ("hf://datasets/ac me/x/b.jsonl", "owner 'ac me'"),
        ("hf://datasets/acme/x%3Fy/b.jsonl", "name 'x%3Fy'"),
        ("https://huggingface.co/datasets/acme/x%3Fy/resolve/main/b.jsonl", "name 'x?y'"),
    ],
)
def test_traversal_and_malformed_segments_are_refused(
    hub: HuggingFaceHub, url: str, hint: str
) -> None:
    with pytest.raises(DatasetUrlInvalid) as info:
        hub.resolve_dataset_url(url)
    assert hint in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "hf://datasets/Acme-Labs/support_v2.1/data/train-00000.jsonl",
        "hf://datasets/acme/x@v1.0/b.jsonl",
        "hf://datasets/acme/x@feature%2Fnew/b.jsonl",
        "hf://datasets/acme/x/100%25 real.jsonl",
        "hf://datasets/acme/x/dir.v2/..hidden.jsonl",
    ],
)
def test_ordinary_names_pass_the_segment_checks(hub: HuggingFaceHub, url: str) -> None:
    assert hub.resolve_dataset_url(url).startswith(ENDPOINT + "/datasets/")
