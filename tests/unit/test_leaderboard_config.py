"""PUSH dataset configuration: the end date as of now."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.leaderboards import PushDatasetConfig

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


def test_a_dataset_without_an_end_date_is_never_in_the_past():
    PushDatasetConfig(mode="push").check_end_date_in_future(NOW)


def test_an_end_date_must_be_strictly_after_now():
    config = PushDatasetConfig.model_validate({"mode": "push", "end_date": NOW})
    config.check_end_date_in_future(NOW - timedelta(microseconds=1))
    with pytest.raises(ValueError):
        config.check_end_date_in_future(NOW)
