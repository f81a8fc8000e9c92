"""Token generation, hashing, scopes; PUSH dataset configuration rules."""

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
    assert tokens.effective_scopes(["workspace:admin"]) >= {
        "leaderboards:read",
        "leaderboards:write",
        "inference",
    }
    assert tokens.effective_scopes(["leaderboards:write"]) == {
        "leaderboards:write",
        "leaderboards:read",
    }
    assert tokens.effective_scopes(["inference"]) == {"inference"}
    assert "dataset:push" not in tokens.effective_scopes(["workspace:admin"])


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
