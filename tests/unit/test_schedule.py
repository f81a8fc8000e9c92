"""Run schedules: validation, next fire time, daylight-saving rules."""

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.schedule import ScheduleConfig, next_run_at, upcoming_runs, wall_to_instant

NEW_YORK = ZoneInfo("America/New_York")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def local(zone, *args, fold=0):
    return datetime(*args, tzinfo=zone, fold=fold)


def schedule(cron, timezone="UTC", **kw):
    return ScheduleConfig(cron=cron, timezone=timezone, **kw)


# Validation.


def test_defaults_and_whitespace_normalisation():
    config = ScheduleConfig(cron="  0   6 * *\t1-5 ")
    assert (config.cron, config.timezone, config.enabled) == ("0 6 * * 1-5", "UTC", True)


@pytest.mark.parametrize(
    "cron",
    ["*/15 * * * *", "0 9 * * mon#2", "0 0 L * *", "0 0 1,15 jan-jun *", "0 0 29 2 *", "@daily",
     "@HOURLY", "0 0 ? * *"],
)  # fmt: skip
def test_valid_crons(cron):
    ScheduleConfig(cron=cron)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("* * * *", "cron must have 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("0 0 * * * *", "got 6"),
        ("0 0 1 1 * 2030", "got 6"),
        ("", "got 0"),
        ("61 * * * *", "is invalid"),
        ("*/0 * * * *", "is invalid"),
        ("0 0 * * funday", "is invalid"),
        ("H * * * *", "field minute 'H': hashed (H) and random (R)"),
        ("0 R * * *", "field hour"),
        ("0 0 * * mon,H", "field day-of-week"),
        ("0 0 31 2 *", "never fires"),
        ("@reboot", "got 1"),
    ],
)
def test_invalid_crons_say_why(cron, message):
    with pytest.raises(ValidationError) as caught:
        ScheduleConfig(cron=cron)
    assert message in str(caught.value)


def test_invalid_timezone_suggests_a_name():
    for name in ("Mars/Olympus", "", "../etc/passwd", "utc+2"):
        with pytest.raises(ValidationError, match="use an IANA name such as 'Europe/Paris'"):
            schedule("0 0 * * *", name)


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        ScheduleConfig.model_validate({"cron": "0 0 * * *", "tz": "UTC"})


# Next fire time.


def test_next_run_is_strictly_after():
    config = schedule("0 6 * * *")
    assert next_run_at(config, utc(2026, 5, 1, 5, 59, 59)) == utc(2026, 5, 1, 6)
    assert next_run_at(config, utc(2026, 5, 1, 6)) == utc(2026, 5, 2, 6)
    assert next_run_at(config, utc(2026, 5, 1, 6, 0, 0, 1)) == utc(2026, 5, 2, 6)


def test_result_is_utc_whatever_the_input_offset():
    after = datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))  # 06:00Z
    result = next_run_at(schedule("*/15 * * * *"), after)
    assert result == utc(2026, 5, 1, 6, 15)
    assert result.tzinfo is UTC


def test_timezone_wall_clock():
    config = schedule("0 9 * * *", "Europe/Paris")
    assert next_run_at(config, utc(2026, 1, 15)) == utc(2026, 1, 15, 8)  # CET, UTC+1
    assert next_run_at(config, utc(2026, 7, 15)) == utc(2026, 7, 15, 7)  # CEST, UTC+2


def test_weekdays_month_ends_and_either_day_rule():
    assert next_run_at(schedule("0 6 * * 1-5"), utc(2026, 5, 2)) == utc(2026, 5, 4, 6)  # Sat→Mon
    assert next_run_at(schedule("0 0 L * *"), utc(2026, 2, 3)) == utc(2026, 2, 28)
    assert next_run_at(schedule("0 9 * * mon#2"), utc(2026, 5, 1)) == utc(2026, 5, 11, 9)
    # Day-of-month 13 OR Friday: Friday 1 May comes first.
    assert next_run_at(schedule("0 0 13 * fri"), utc(2026, 4, 30, 1)) == utc(2026, 5, 1)


def test_disabled_schedule_plans_nothing():
    assert next_run_at(schedule("* * * * *", enabled=False), utc(2026, 1, 1)) is None
    assert upcoming_runs(schedule("* * * * *", enabled=False), utc(2026, 1, 1), 3) == []


def test_naive_after_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run_at(schedule("* * * * *"), datetime(2026, 1, 1))  # noqa: DTZ001


def test_upcoming_runs():
    assert upcoming_runs(schedule("0 */8 * * *"), utc(2026, 1, 1, 1), 4) == [
        utc(2026, 1, 1, 8),
        utc(2026, 1, 1, 16),
        utc(2026, 1, 2, 0),
        utc(2026, 1, 2, 8),
    ]


# Daylight saving (New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST).


def test_skipped_wall_time_fires_when_the_clocks_change():
    config = schedule("30 2 * * *", "America/New_York")
    assert upcoming_runs(config, utc(2026, 3, 7, 12), 2) == [
        local(NEW_YORK, 2026, 3, 8, 3, 0).astimezone(UTC),  # 07:00Z, the change itself
        local(NEW_YORK, 2026, 3, 9, 2, 30).astimezone(UTC),
    ]


def test_matches_inside_the_gap_fire_once():
    config = schedule("*/30 * * * *", "America/New_York")
    runs = upcoming_runs(config, local(NEW_YORK, 2026, 3, 8, 1, 0), 4)
    assert [r.astimezone(NEW_YORK).strftime("%H:%M%z") for r in runs] == [
        "01:30-0500",
        "03:00-0400",  # 02:00, 02:30 and 03:00 all fire here, once
        "03:30-0400",
        "04:00-0400",
    ]


def test_repeated_wall_time_fires_at_its_first_occurrence_only():
    config = schedule("30 1 * * *", "America/New_York")
    assert upcoming_runs(config, utc(2026, 10, 31, 12), 2) == [
        local(NEW_YORK, 2026, 11, 1, 1, 30, fold=0).astimezone(UTC),  # 05:30Z (EDT)
        local(NEW_YORK, 2026, 11, 2, 1, 30).astimezone(UTC),
    ]
    # Asked during the second 01:xx hour, the next run is the next day's.
    second_pass = local(NEW_YORK, 2026, 11, 1, 1, 15, fold=1)
    assert next_run_at(config, second_pass) == local(NEW_YORK, 2026, 11, 2, 1, 30).astimezone(UTC)


def test_nothing_fires_during_the_repeated_hour():
    config = schedule("*/30 * * * *", "America/New_York")
    runs = upcoming_runs(config, local(NEW_YORK, 2026, 11, 1, 0, 45), 4)
    assert [r.astimezone(NEW_YORK).strftime("%H:%M%z") for r in runs] == [
        "01:00-0400",
        "01:30-0400",
        "02:00-0500",  # 01:00 and 01:30 EST are not repeated
        "02:30-0500",
    ]
    assert runs[2] - runs[1] == timedelta(hours=1, minutes=30)


def test_a_skipped_day():
    # Samoa skipped 30 December 2011 entirely (midnight on the 29th became midnight on the 31st).
    apia = ZoneInfo("Pacific/Apia")
    config = schedule("0 12 * * *", "Pacific/Apia")
    runs = upcoming_runs(config, local(apia, 2011, 12, 29, 13), 2)
    assert [r.astimezone(apia).isoformat() for r in runs] == [
        "2011-12-31T00:00:00+14:00",
        "2011-12-31T12:00:00+14:00",
    ]


def test_wall_to_instant():
    assert wall_to_instant(datetime(2026, 3, 8, 2, 30), NEW_YORK) == utc(2026, 3, 8, 7)  # noqa: DTZ001
    assert wall_to_instant(datetime(2026, 11, 1, 1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)  # noqa: DTZ001


# Properties.

zones = st.sampled_from(["UTC", "America/New_York", "Europe/Paris", "Australia/Lord_Howe"])
crons = st.sampled_from(["*/20 * * * *", "30 1,2 * * *", "0 * * * 0", "15 3 1 * *"])
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)).map(  # noqa: DTZ001
    lambda d: d.replace(tzinfo=UTC)
)


@given(cron=crons, zone=zones, after=instants)
def test_runs_are_increasing_whole_minutes_matching_the_cron_off_transitions(cron, zone, after):
    config = schedule(cron, zone)
    runs = upcoming_runs(config, after, 5)
    assert len(runs) == 5
    previous = after
    for run in runs:
        assert run > previous and run.tzinfo is UTC
        assert run.second == 0 and run.microsecond == 0
        wall = run.astimezone(ZoneInfo(zone))
        if wall.utcoffset() == (wall - timedelta(hours=3)).utcoffset():  # no change just before
            assert croniter.match(cron, wall.replace(tzinfo=None))
        previous = run


@given(cron=crons, zone=zones, after=instants)
def test_no_fire_time_is_skipped(cron, zone, after):
    # Asking again from just before a fire time gives that same fire time.
    config = schedule(cron, zone)
    first = next_run_at(config, after)
    assert first is not None
    assert next_run_at(config, first - timedelta(seconds=1)) == first
    assert next_run_at(config, max(after, first - timedelta(minutes=7))) == first


# What mutation testing found untested.


def test_macros_are_stored_in_lower_case():
    assert ScheduleConfig(cron=" @HOURLY ").cron == "@hourly"
    assert ScheduleConfig(cron="@Daily").cron == "@daily"


@pytest.mark.parametrize("cron", ["R/5 * * * *", "H/15 * * * *", "0 0 * * r"])
def test_random_and_hashed_fields_are_refused_whatever_follows_the_letter(cron):
    with pytest.raises(ValidationError):
        ScheduleConfig(cron=cron)


class _Floating(tzinfo):
    """A tzinfo that does not know its offset: the datetime is naive in all but name."""

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


def test_an_after_whose_zone_has_no_offset_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run_at(schedule("* * * * *"), datetime(2026, 1, 1, tzinfo=_Floating()))


def test_a_repeated_wall_time_maps_to_its_first_occurrence_whatever_its_fold():
    repeated = datetime(2026, 11, 1, 1, 30, fold=1)  # noqa: DTZ001 wall clock
    assert wall_to_instant(repeated, NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_a_skipped_wall_time_off_the_hour_fires_at_the_change_itself():
    skipped = datetime(2026, 3, 8, 2, 31)  # noqa: DTZ001 wall clock
    instant = wall_to_instant(skipped, NEW_YORK)
    assert instant == utc(2026, 3, 8, 7)
    assert instant.tzinfo is UTC
    assert next_run_at(schedule("31 2 * * *", "America/New_York"), utc(2026, 3, 8)) == instant
