"""Daily and monthly accepted-row windows, and the arithmetic of lock-free reservation.

Windows are calendar windows in UTC: a day runs from 00:00 to 24:00 UTC, a month from the 1st.

Reservation without transactions: a push adds its row count ``n`` to the window counter with an
atomic increment and learns the new total ``T``. What was there before it is ``T - n``, so
``min(n, max(0, limit - (T - n)))`` rows fit; the rest is given back with a second increment.
The previous total a request sees already includes every earlier reservation (minus what was
given back), so the accepted rows of all requests together never exceed the limit, however
the requests interleave. A request may see a total that is briefly inflated by another
request's overshoot and accept less than would have fitted: races err on the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def day_key(now: datetime) -> str:
    return "day-" + now.astimezone(UTC).strftime("%Y%m%d")


def month_key(now: datetime) -> str:
    return "month-" + now.astimezone(UTC).strftime("%Y%m")


def day_resets_at(now: datetime) -> datetime:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(days=1)


def month_resets_at(now: datetime) -> datetime:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (start + timedelta(days=32)).replace(day=1)


def fits(*, requested: int, new_total: int, limit: int | None) -> int:
    """How many of ``requested`` rows fit, given the counter's total after adding them."""
    if limit is None:
        return requested
    before = new_total - requested
    return max(0, min(requested, limit - before))


def window_usage(used: int, limit: int | None, resets_at: datetime) -> dict[str, object]:
    """A window's public usage figure."""
    return {
        "used": used,
        "limit": limit,
        "remaining": None if limit is None else max(0, limit - used),
        "resets_at": resets_at.isoformat(),
    }


@dataclass(frozen=True)
class Refusal:
    """Why some valid rows of a push were not accepted."""

    code: str
    message: str
    rows: int
    resets_at: datetime | None = None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message, "rows": self.rows}
        if self.resets_at is not None:
            body["resets_at"] = self.resets_at.isoformat()
        return body
