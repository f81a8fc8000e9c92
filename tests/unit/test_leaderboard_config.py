"""Leaderboard configuration: PUSH dataset end dates and limits, the default evaluation."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.domain.leaderboards import LeaderboardCreate, PushDatasetConfig

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


def test_a_dataset_without_an_end_date_is_never_in_the_past():
    PushDatasetConfig(mode="push").check_end_date_in_future(NOW)


def test_an_end_date_must_be_strictly_after_now():
    config = PushDatasetConfig.model_validate({"mode": "push", "end_date": NOW})
    config.check_end_date_in_future(NOW - timedelta(microseconds=1))
    with pytest.raises(ValueError):
        config.check_end_date_in_future(NOW)


# Rules mutmut does not reach (it skips decorated functions such as pydantic validators).


def push(**fields):
    return PushDatasetConfig.model_validate({"mode": "push", **fields})


def test_an_end_date_with_an_offset_is_kept_as_the_same_instant_in_utc():
    config = push(end_date="2027-03-01T02:00:00+02:00")
    assert config.end_date == datetime(2027, 3, 1, tzinfo=UTC)
    assert config.end_date.utcoffset() == timedelta(0)


def test_a_bare_end_date_must_come_before_the_year_9000():
    assert push(end_date="8999-12-31").end_date == datetime(9000, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError):
        push(end_date="9000-01-01")


def test_a_month_may_hold_exactly_one_day_s_limit_and_limits_may_be_off():
    assert push(daily_limit=500, monthly_limit=500).monthly_limit == 500
    assert push(daily_limit=None, monthly_limit=5).daily_limit is None
    assert push(daily_limit=5, monthly_limit=None).monthly_limit is None
    assert push(auto_limit=False, max_samples=None).max_samples is None


def test_an_evaluation_without_a_type_is_exact():
    board = LeaderboardCreate.model_validate(
        {"name": "n", "system_prompt": "p", "dataset": {"mode": "push"}, "evaluation": {}}
    )
    assert board.evaluation.type == "exact"
