"""Run schedules: when a leaderboard's next scheduled run is due.

A schedule is ``{"cron": "<5 fields>", "timezone": "<IANA name>", "enabled": true}``:

- ``cron`` is a standard five-field expression, ``minute hour day-of-month month day-of-week``
  (e.g. ``"0 6 * * 1-5"``: 06:00 on weekdays), with ``*``, lists, ranges, steps, month and day
  names, ``L`` (last day of the month) and ``#`` (``mon#2``: second Monday). When both
  day-of-month and day-of-week are restricted, a day matching **either** fires, as in classic
  cron. The macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
  ``@midnight`` and ``@hourly`` are accepted too. Refused: a seconds or year field, Jenkins-style
  ``H`` and random ``R`` fields (a schedule must be predictable), and expressions that can never
  fire (``0 0 31 2 *``).
- ``timezone`` (default ``"UTC"``) is an IANA zone name such as ``"Europe/Paris"``. The cron
  fields are matched against the wall clock of that zone.
- ``enabled: false`` keeps the schedule but plans no run.

:func:`next_run_at` is the first fire time strictly after a given instant, as an aware UTC
datetime (whole minutes). Daylight-saving rules:

- **Clocks go forward** (a wall time that does not exist, e.g. 02:30 on the night New York jumps
  from 02:00 to 03:00): the run happens at the moment the clocks change (03:00 local), once, however
  many matching wall times fell in the skipped interval.
- **Clocks go back** (a wall time that occurs twice, e.g. 01:30 on the night New York goes from
  02:00 back to 01:00): the run happens at the first occurrence only. An hourly schedule therefore
  skips the repeated hour, and nothing fires during it.

The scheduled job stores each leaderboard's next fire time, starts a run when it has passed, then
computes the next one from the current time: runs missed while the job was not running are not
made up one by one (at most one run per pass).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter
from pydantic import BaseModel, ConfigDict, field_validator

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_FIELD_NAMES = "minute hour day-of-month month day-of-week"
_MAX_GAP_MINUTES = 2 * 24 * 60  # the longest tz database gap is a skipped day
_MAX_CANDIDATES = 10_000  # wall times that fall before `after` (a repeated hour) are skipped


class ScheduleConfig(BaseModel):
    """A leaderboard's run schedule (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cron: str
    timezone: str = "UTC"
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return validate_cron(value)

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        zone_named(value)
        return value


def validate_cron(expression: str) -> str:
    """The expression with whitespace normalised; ValueError naming the problem otherwise."""
    normalised = " ".join(expression.split())
    if normalised.lower() in MACROS:
        return normalised.lower()
    fields = normalised.split(" ") if normalised else []
    if len(fields) != 5:
        raise ValueError(
            f"cron must have 5 fields ({_FIELD_NAMES}), got {len(fields)}: {expression!r}"
        )
    for name, field in zip(_FIELD_NAMES.split(), fields, strict=True):
        if any(part[:1].upper() in ("H", "R") for part in field.split(",")):
            raise ValueError(
                f"cron field {name} {field!r}: hashed (H) and random (R) values are not supported"
            )
    if not croniter.is_valid(normalised):
        reason = "invalid"
        try:
            croniter(normalised)
        except CroniterError as error:
            reason = str(error)
        raise ValueError(f"cron expression {expression!r} is invalid: {reason}")
    try:
        croniter(normalised, datetime(2000, 1, 1)).get_next(datetime)  # noqa: DTZ001 wall clock
    except CroniterBadDateError:
        raise ValueError(f"cron expression {expression!r} never fires") from None
    return normalised


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError with an example otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r}; use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None


def next_run_at(config: ScheduleConfig, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (aware), in UTC; None when disabled."""
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime")
    if not config.enabled:
        return None
    zone = zone_named(config.timezone)
    # Candidates start at the wall-clock minute of `after`; earlier wall times fire no later
    # than it (the wall-to-instant mapping below never goes backwards).
    wall = after.astimezone(zone).replace(tzinfo=None, fold=0, second=0, microsecond=0)
    candidates = croniter(config.cron, wall - timedelta(minutes=1))
    for _ in range(_MAX_CANDIDATES):
        instant = wall_to_instant(candidates.get_next(datetime), zone)
        if instant > after:
            return instant
    raise RuntimeError(f"no fire time of {config.cron!r} found after {after.isoformat()}")


def upcoming_runs(config: ScheduleConfig, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``after`` (empty when disabled)."""
    runs: list[datetime] = []
    current: datetime | None = after
    while current is not None and len(runs) < count:
        current = next_run_at(config, current)
        if current is not None:
            runs.append(current)
    return runs


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive wall time of ``zone`` fires at (module docstring's DST rules)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _exists(wall, zone):
        return first
    probe = wall
    for _ in range(_MAX_GAP_MINUTES):
        probe += timedelta(minutes=1)
        if _exists(probe, zone):
            return probe.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return first  # unreachable with the tz database; firing late beats failing


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=zone, fold=0)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
