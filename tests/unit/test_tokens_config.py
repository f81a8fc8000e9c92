"""Token generation, hashing, scopes; PUSH dataset configuration rules."""

import string
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.domain import tokens
from shared.domain.leaderboards import LeaderboardCreate, PushDatasetConfig


def test_tokens_are_long_random_and_only_their_hash_is_kept():
    a, b = tokens.generate("drgero_"), tokens.generate("drgero_")
    assert a != b
    assert a.startswith("drgero_") and len(a) - len("drgero_") >= 43  # 256 bits, base64
    assert tokens.digest(a) == tokens.digest(a) != tokens.digest(b)
    assert a not in tokens.digest(a)
    assert tokens.mask("hpd_", "wxyz") == "hpd_...wxyz"


def test_admin_implies_every_api_scope_and_write_implies_read():
    assert tokens.effective_scopes(["workspace:admin"]) == {
        "leaderboards:read",
        "leaderboards:write",
        "inference",
        "workspace:admin",
    }
    assert tokens.effective_scopes(["leaderboards:write"]) == {
        "leaderboards:write",
        "leaderboards:read",
    }
    assert tokens.effective_scopes(["inference"]) == {"inference"}
    assert tokens.effective_scopes(["leaderboards:read"]) == {"leaderboards:read"}
    assert "dataset:push" not in tokens.effective_scopes(["workspace:admin"])


@pytest.mark.parametrize(
    "scopes",
    [
        ["leaderboards:write", "inference"],
        ["inference", "leaderboards:write"],
        frozenset({"inference", "leaderboards:write"}),
    ],
)
def test_several_scopes_grant_the_union_of_their_rights(scopes):
    assert tokens.effective_scopes(scopes) == {
        "leaderboards:write",
        "leaderboards:read",
        "inference",
    }


def test_a_scope_without_implications_grants_only_itself():
    assert tokens.effective_scopes(["dataset:push"]) == {"dataset:push"}
    assert tokens.effective_scopes(["dataset:push", "inference"]) == {"dataset:push", "inference"}
    assert tokens.effective_scopes([]) == frozenset()


def test_scope_values_and_the_api_scopes_are_pinned():
    # Stored on every token document and named in the API: renaming one locks tokens out.
    assert [scope.value for scope in tokens.Scope] == [
        "leaderboards:read",
        "leaderboards:write",
        "inference",
        "workspace:admin",
        "dataset:push",
    ]
    assert {
        "leaderboards:read",
        "leaderboards:write",
        "inference",
        "workspace:admin",
    } == tokens.API_SCOPES


def test_token_prefixes_and_length_are_pinned():
    # Clients and secret scanners recognise tokens by these prefixes.
    assert (tokens.API_TOKEN_PREFIX, tokens.DATASET_TOKEN_PREFIX) == ("drgero_", "hpd_")
    for prefix in (tokens.API_TOKEN_PREFIX, tokens.DATASET_TOKEN_PREFIX):
        token = tokens.generate(prefix)
        assert token.startswith(prefix)
        secret = token.removeprefix(prefix)
        assert len(secret) == 43  # 32 random bytes, url-safe base64 without padding
        assert set(secret) <= set(string.ascii_letters + string.digits + "-_")


def test_digest_is_the_sha256_hex_of_the_utf8_token():
    # Stored hashes must keep matching: pinned values, not just "equal to itself".
    assert tokens.digest("drgero_abc") == (
        "b9c00cc594003b2a0a1b57a915b226a8041786fdd37c953a6515ccd879b6c389"
    )
    assert tokens.digest("hpd_é") == (
        "a15aa4be2bfc2b16af914a3e0831b9d4e333c4ecf7e34d2d9092afbf20164d60"
    )


def test_push_config_defaults_follow_the_brief():
    config = PushDatasetConfig(mode="push")
    assert (config.max_samples, config.daily_limit, config.monthly_limit) == (5000, 1000, 20000)
    assert (config.consolidate_every_events, config.consolidate_every_hours) == (100, 24)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"daily_limit": 10, "monthly_limit": 5}, "monthly_limit (5) is below daily_limit"),
        ({"auto_limit": True, "max_samples": None}, "auto_limit needs max_samples"),
        ({"daily_limit": 0}, "greater than or equal to 1"),
        ({"consolidate_every_hours": 0}, "greater than 0"),
        ({"end_date": "2027-01-01T00:00:00"}, "end_date needs a timezone"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_nonsense_push_configs_are_refused_with_a_reason(fields, fragment):
    with pytest.raises(ValidationError) as caught:
        PushDatasetConfig.model_validate({"mode": "push", **fields})
    assert fragment in str(caught.value)


def test_a_bare_end_date_means_the_end_of_that_day_utc():
    config = PushDatasetConfig.model_validate({"mode": "push", "end_date": "2027-03-01"})
    assert config.end_date == datetime(2027, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="already in the past"):
        config.check_end_date_in_future(datetime(2027, 3, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    "url",
    [
        "hf://datasets/acme/evals/data/test.jsonl",
        "hf://datasets/acme/evals/test.jsonl.gz",
        "https://huggingface.co/datasets/acme/evals/resolve/main/data/test.jsonl",
    ],
)
def test_get_datasets_take_hugging_face_jsonl_urls(url):
    board = LeaderboardCreate.model_validate(
        {"name": "n", "system_prompt": "p", "dataset": {"mode": "get", "url": url}}
    )
    assert board.dataset.url == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://example.com/data.jsonl", "Hugging Face dataset file"),
        ("hf://datasets/acme/evals/data.csv", ".jsonl or .jsonl.gz"),
    ],
)
def test_other_get_urls_are_refused_with_the_accepted_forms(url, fragment):
    with pytest.raises(ValidationError, match=fragment):
        LeaderboardCreate.model_validate(
            {"name": "n", "system_prompt": "p", "dataset": {"mode": "get", "url": url}}
        )
