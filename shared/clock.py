"""Timezone-aware UTC time, the only kind this code base uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def jsonable(value: Any) -> Any:
    """``value`` with every datetime inside it (dicts, lists) as an ISO 8601 string."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value
