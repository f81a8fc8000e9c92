"""Quota windows and the reservation arithmetic."""

import random
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.domain import quota


def test_windows_are_utc_calendar_windows():
    now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert quota.day_key(now) == "day-20261231"
    assert quota.month_key(now) == "month-202612"
    assert quota.day_resets_at(now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert quota.month_resets_at(now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert quota.month_resets_at(datetime(2026, 2, 1, tzinfo=UTC)) == datetime(
        2026, 3, 1, tzinfo=UTC
    )


def test_fits():
    assert quota.fits(requested=5, new_total=5, limit=10) == 5
    assert quota.fits(requested=5, new_total=12, limit=10) == 3
    assert quota.fits(requested=5, new_total=30, limit=10) == 0
    assert quota.fits(requested=5, new_total=30, limit=None) == 5


def test_any_interleaving_of_reservations_never_exceeds_the_limit():
    rng = random.Random(7)
    for _ in range(500):
        limit = rng.randint(1, 60)
        counter = 0
        accepted = 0
        pending_refunds: list[int] = []
        for _ in range(rng.randint(1, 30)):
            # Refunds of earlier requests land at random moments between reservations.
            rng.shuffle(pending_refunds)
            while pending_refunds and rng.random() < 0.5:
                counter -= pending_refunds.pop()
            n = rng.randint(1, 10)
            counter += n
            fit = quota.fits(requested=n, new_total=counter, limit=limit)
            accepted += fit
            pending_refunds.append(n - fit)
        counter -= sum(pending_refunds)
        assert accepted <= limit
        assert counter == accepted


def test_window_usage():
    resets = datetime(2027, 1, 1, tzinfo=UTC)
    assert quota.window_usage(3, 10, resets) == {
        "used": 3,
        "limit": 10,
        "remaining": 7,
        "resets_at": "2027-01-01T00:00:00+00:00",
    }
    assert quota.window_usage(3, None, resets)["remaining"] is None


def test_an_exhausted_window_has_nothing_remaining():
    resets = datetime(2027, 1, 1, tzinfo=UTC)
    assert quota.window_usage(10, 10, resets)["remaining"] == 0
    assert quota.window_usage(9, 10, resets)["remaining"] == 1
    # A counter read mid-push may still hold another push's overshoot, not yet given back.
    assert quota.window_usage(14, 10, resets)["remaining"] == 0


@pytest.fixture
def server_clock_east_of_utc(monkeypatch):
    """The process's local zone is UTC+14 (POSIX TZ, no zone database needed)."""
    monkeypatch.setenv("TZ", "KIR-14")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_windows_follow_utc_not_the_server_clock(server_clock_east_of_utc):
    assert datetime(2026, 12, 31, 23, 30, tzinfo=UTC).astimezone().day == 1  # the premise
    now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert quota.day_key(now) == "day-20261231"
    assert quota.month_key(now) == "month-202612"
    assert quota.day_resets_at(now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert quota.month_resets_at(now) == datetime(2027, 1, 1, tzinfo=UTC)


def test_an_aware_time_elsewhere_counts_in_its_utc_window():
    paris_new_year = datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert quota.day_key(paris_new_year) == "day-20261231"
    assert quota.month_key(paris_new_year) == "month-202612"
    assert quota.day_resets_at(paris_new_year) == datetime(2027, 1, 1, tzinfo=UTC)
    assert quota.month_resets_at(paris_new_year) == datetime(2027, 1, 1, tzinfo=UTC)


def test_windows_reset_on_the_exact_boundary_whatever_the_seconds_of_now():
    now = datetime(2026, 2, 14, 9, 41, 37, 654321, tzinfo=UTC)
    assert quota.day_resets_at(now) == datetime(2026, 2, 15, tzinfo=UTC)
    assert quota.month_resets_at(now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert quota.window_usage(1, 10, quota.day_resets_at(now))["resets_at"] == (
        "2026-02-15T00:00:00+00:00"
    )


def test_every_month_resets_on_the_first_of_the_next():
    for month in range(1, 13):
        late = datetime(2026, month, 28, 23, 59, 59, 999999, tzinfo=UTC)
        following = datetime(2026 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        assert quota.month_resets_at(late) == following
        assert quota.month_resets_at(datetime(2026, month, 1, tzinfo=UTC)) == following


def test_a_refusal_publishes_its_code_rows_and_reset_time():
    resets = datetime(2027, 1, 1, tzinfo=UTC)
    refusal = quota.Refusal("daily_limit_reached", "the daily limit is reached", 4, resets)
    assert refusal.to_json() == {
        "code": "daily_limit_reached",
        "message": "the daily limit is reached",
        "rows": 4,
        "resets_at": "2027-01-01T00:00:00+00:00",
    }
    closed = quota.Refusal("dataset_closed", "closed", 7)
    assert closed.to_json() == {"code": "dataset_closed", "message": "closed", "rows": 7}
