"""Quota windows and the reservation arithmetic."""

import random
from datetime import UTC, datetime

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
