"""Cron expressions and due ticks (docs/cron.md): jobdeck.domain.cron."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from jobdeck.domain.cron import CronExpression, due_ticks, parse
from jobdeck.domain.schedule import CATCH_UP_LIMIT, MisfirePolicy
from jobdeck.errors import ValidationError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SKIP, FIRE_ONCE, CATCH_UP = MisfirePolicy.SKIP, MisfirePolicy.FIRE_ONCE, MisfirePolicy.CATCH_UP


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def minutes(start: datetime, *offsets: int) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in offsets]


def fires_between(cron: CronExpression, start: datetime, end: datetime) -> list[datetime]:
    """Every fire in [start, end)."""
    out: list[datetime] = []
    at = cron.next_after(start - timedelta(microseconds=1))
    while at is not None and at < end:
        out.append(at)
        at = cron.next_after(at)
    return out


def local(instants: list[datetime], zone: ZoneInfo) -> list[str]:
    return [i.astimezone(zone).strftime("%m-%d %H:%M:%S %Z") for i in instants]


# --- expression forms ------------------------------------------------------------------


def test_five_fields_daily() -> None:
    cron = parse("0 2 * * *")
    assert cron.expression == "0 2 * * *"
    assert cron.timezone == "UTC"
    assert cron.next_runs(utc(2026, 1, 1)) == [utc(2026, 1, d, 2) for d in range(1, 6)]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # names, any case, and ranges of names
        ("0 9 * * MON-fri", utc(2026, 1, 2, 12), [utc(2026, 1, d, 9) for d in (5, 6, 7, 8, 9)]),
        ("0 0 1 JAN,jul *", utc(2026, 1, 1), [utc(2026, 7, 1), utc(2027, 1, 1)]),
        ("0 12 * * sun", utc(2026, 1, 1), [utc(2026, 1, 4, 12), utc(2026, 1, 11, 12)]),
        # weekday 7 is Sunday, like 0
        ("0 12 * * 7", utc(2026, 1, 1), [utc(2026, 1, 4, 12), utc(2026, 1, 11, 12)]),
        # lists and ranges
        ("0,30 9-10 * * *", utc(2026, 1, 1), minutes(utc(2026, 1, 1, 9), 0, 30, 60, 90)),
        # steps, over '*' and over a range
        ("*/15 * * * *", utc(2026, 1, 1, 0, 7), minutes(utc(2026, 1, 1), 15, 30, 45, 60)),
        ("10-40/15 * * * *", utc(2026, 1, 1), minutes(utc(2026, 1, 1), 10, 25, 40, 70)),
        ("0 */6 * * *", utc(2026, 1, 1, 1), [utc(2026, 1, 1, h) for h in (6, 12, 18)]),
        # six fields: the seconds come first
        ("*/10 * * * * *", utc(2026, 1, 1), [utc(2026, 1, 1, 0, 0, s) for s in (10, 20, 30)]),
        ("30 0 2 * * *", utc(2026, 1, 1), [utc(2026, 1, 1, 2, 0, 30), utc(2026, 1, 2, 2, 0, 30)]),
        ("0 15 10 * * *", utc(2026, 1, 1), [utc(2026, 1, 1, 10, 15), utc(2026, 1, 2, 10, 15)]),
    ],
)
def test_forms(expression: str, after: datetime, expected: list[datetime]) -> None:
    assert parse(expression).next_runs(after, len(expected)) == expected


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]),
        ("@daily", [utc(2026, 1, 2), utc(2026, 1, 3)]),
        ("@midnight", [utc(2026, 1, 2), utc(2026, 1, 3)]),
        ("@weekly", [utc(2026, 1, 4), utc(2026, 1, 11)]),  # Sundays
        ("@monthly", [utc(2026, 2, 1), utc(2026, 3, 1)]),
        ("@yearly", [utc(2027, 1, 1), utc(2028, 1, 1)]),
        ("@annually", [utc(2027, 1, 1), utc(2028, 1, 1)]),
        ("@DAILY", [utc(2026, 1, 2), utc(2026, 1, 3)]),
    ],
)
def test_aliases(alias: str, expected: list[datetime]) -> None:
    assert parse(alias).next_runs(utc(2026, 1, 1), 2) == expected


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 13th of each month OR every Friday (Vixie cron), not "Friday the 13th".
    runs = parse("0 0 13 * fri").next_runs(utc(2026, 2, 1), 6)
    assert [r.day for r in runs] == [6, 13, 20, 27, 6, 13]
    assert [r.month for r in runs] == [2, 2, 2, 2, 3, 3]


def test_only_the_restricted_day_field_counts() -> None:
    assert [r.day for r in parse("0 0 13 * *").next_runs(utc(2026, 2, 1), 2)] == [13, 13]
    assert [r.day for r in parse("0 0 * * fri").next_runs(utc(2026, 2, 1), 2)] == [6, 13]


def test_february_29th_fires_in_leap_years() -> None:
    assert parse("0 0 29 2 *").next_runs(utc(2026, 1, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]


def test_whitespace_is_stripped_and_fields_split_on_any_run_of_it() -> None:
    cron = parse("  0\t2   * * *\n", " Europe/Berlin ")
    assert cron == parse("0\t2   * * *", "Europe/Berlin")
    assert cron.expression == "0\t2   * * *"
    assert cron.timezone == "Europe/Berlin"
    assert cron.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 1)


def test_immutable_and_comparable() -> None:
    cron = parse("0 2 * * *", "Europe/Berlin")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cron.expression = "0 3 * * *"  # type: ignore[misc]
    assert cron == CronExpression("0 2 * * *", "Europe/Berlin")
    assert cron != parse("0 2 * * *")
    assert hash(cron) == hash(CronExpression("0 2 * * *", "Europe/Berlin"))


def test_constructing_directly_validates_too() -> None:
    with pytest.raises(ValidationError, match="cron_expression"):
        CronExpression("61 * * * *")


# --- invalid expressions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "cron_expression: must not be empty"),
        ("   ", "cron_expression: must not be empty"),
        (
            "* * *",
            "cron_expression: expected 5 fields (minute hour day month weekday) or 6 with a "
            "leading seconds field, got 3",
        ),
        ("* * * * * * *", "got 7"),  # croniter's year field is not ours
        ("2026", "got 1"),
        ("60 * * * *", "invalid minute field '60' (allowed: 0-59"),
        ("* 24 * * *", "invalid hour field '24' (allowed: 0-23"),
        ("* * 0 * *", "invalid day field '0' (allowed: 1-31"),
        ("* * 32 * *", "invalid day field '32'"),
        ("* * * 13 *", "invalid month field '13' (allowed: 1-12 or jan-dec"),
        ("* * * * 8", "invalid weekday field '8' (allowed: 0-7 or sun-sat"),
        ("60 * * * * *", "invalid second field '60' (allowed: 0-59"),
        ("1-70 * * * *", "invalid minute field '1-70'"),
        ("*/0 * * * *", "invalid minute field '*/0'"),
        ("1,,2 * * * *", "invalid minute field '1,,2'"),
        ("- * * * *", "invalid minute field '-'"),
        ("abc * * * *", "unexpected 'abc' in the minute field 'abc'"),
        ("0 mon * * *", "unexpected 'mon' in the hour field"),
        ("* * * foo *", "unknown name 'foo' in the month field (allowed: 1-12 or jan-dec)"),
        ("* * * * jan", "unknown name 'jan' in the weekday field"),
        ("* * * * mon!", "unexpected character in the weekday field 'mon!'"),
        ("*/5 * * * * ;", "unexpected character in the weekday field ';'"),
        ("H * * * *", "unexpected 'h' in the minute field 'H'"),  # croniter's hashed values
        ("R * * * *", "unexpected 'r' in the minute field 'R'"),  # croniter's random values
        ("@reboot", "cron_expression: unknown alias '@reboot' (known: @yearly"),
        ("0 0 30 2 *", "cron_expression: '0 0 30 2 *' never fires"),
        ("0 0 31 2,4,6 *", "never fires"),
    ],
)
def test_invalid_expressions(expression: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(expression)
    assert caught.value.message.startswith("cron_expression: ")
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("expression", "feature"),
    [
        ("0 0 L * *", "'L' (last day) is not supported (in the day field 'L')"),
        ("0 0 * * 5L", "'L' (last day) is not supported (in the weekday field '5L')"),
        ("0 0 LW * *", "'L' (last day) is not supported"),
        ("0 0 15W * *", "'W' (nearest weekday) is not supported (in the day field '15W')"),
        ("0 0 W15 * *", "'W' (nearest weekday) is not supported"),
        ("0 0 * * MON#2", "'#' (nth weekday of the month) is not supported"),
        ("0 0 * * 1#1", "'#' (nth weekday of the month) is not supported"),
        ("0 0 ? * mon", "'?' (no specific value) is not supported (in the day field '?')"),
        ("0 0 1 * ?", "'?' (no specific value) is not supported (in the weekday field '?')"),
    ],
)
def test_quartz_extensions_are_refused(expression: str, feature: str) -> None:
    with pytest.raises(ValidationError, match="cron_expression: ") as caught:
        parse(expression)
    assert feature in caught.value.message


def test_names_containing_l_and_w_are_not_mistaken_for_l_and_w() -> None:
    assert parse("0 0 * jul,apr wed,sat").next_after(utc(2026, 1, 1)) == utc(2026, 4, 1)


@pytest.mark.parametrize("zone", ["Mars/Base", "", "utc", "../etc/passwd", "/etc/localtime"])
def test_invalid_timezones(zone: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse("0 2 * * *", zone)
    assert caught.value.message == f"timezone: unknown timezone {zone.strip()!r}"


def test_unknown_timezone_message() -> None:
    with pytest.raises(ValidationError, match=r"^timezone: unknown timezone 'Mars/Base'$"):
        parse("0 2 * * *", "Mars/Base")


# --- next_after / next_runs ------------------------------------------------------------


def test_next_after_is_strictly_after() -> None:
    cron = parse("0 2 * * *")
    assert cron.next_after(utc(2026, 1, 1, 2)) == utc(2026, 1, 2, 2)
    assert cron.next_after(utc(2026, 1, 1, 1, 59, 59, 999999)) == utc(2026, 1, 1, 2)
    seconds = parse("* * * * * *")
    assert seconds.next_after(utc(2026, 1, 1, 0, 0, 0, 500)) == utc(2026, 1, 1, 0, 0, 1)


def test_results_are_aware_utc_whatever_the_input_zone() -> None:
    cron = parse("0 2 * * *", "Europe/Berlin")
    after = datetime(2026, 1, 1, 12, tzinfo=NEW_YORK)
    at = cron.next_after(after)
    assert at == utc(2026, 1, 2, 1)
    assert at is not None and at.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    cron = parse("0 2 * * *")
    with pytest.raises(ValueError, match="aware"):
        cron.next_after(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        due_ticks(cron, datetime(2026, 1, 1), utc(2026, 1, 2), 60, SKIP)


def test_next_runs_count() -> None:
    cron = parse("*/5 * * * *", "Europe/Berlin")
    runs = cron.next_runs(utc(2026, 1, 1))
    assert runs == minutes(utc(2026, 1, 1), 5, 10, 15, 20, 25)
    assert cron.next_runs(utc(2026, 1, 1), 0) == []
    assert len(cron.next_runs(utc(2026, 1, 1), 12)) == 12
    with pytest.raises(ValueError, match="negative"):
        cron.next_runs(utc(2026, 1, 1), -1)


def test_none_once_no_fire_time_is_left() -> None:
    for zone in ("UTC", "Europe/Berlin", "America/New_York"):
        cron = parse("0 0 1 1 *", zone)
        assert cron.next_after(utc(9999, 6, 1)) is None
        assert cron.next_runs(utc(9998, 6, 1), 5) == [
            datetime(9999, 1, 1, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        ]


# --- DST (docs/cron.md) ------------------------------------------------------------------
# 2026: Berlin 29 Mar 02:00 CET -> 03:00 CEST, 25 Oct 03:00 CEST -> 02:00 CET;
# New York 8 Mar 02:00 EST -> 03:00 EDT, 1 Nov 02:00 EDT -> 01:00 EST.


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # spring, Berlin: 02:00 and 02:30 do not exist on 29 Mar: once, at 03:00 CEST
        (
            "0 2 * * *",
            "Europe/Berlin",
            utc(2026, 3, 27),
            [
                "03-27 02:00:00 CET",
                "03-28 02:00:00 CET",
                "03-29 03:00:00 CEST",
                "03-30 02:00:00 CEST",
            ],
        ),
        (
            "30 2 * * *",
            "Europe/Berlin",
            utc(2026, 3, 27),
            [
                "03-27 02:30:00 CET",
                "03-28 02:30:00 CET",
                "03-29 03:00:00 CEST",
                "03-30 02:30:00 CEST",
            ],
        ),
        # autumn, Berlin: 02:00 and 02:30 happen twice on 25 Oct: once, the first time
        (
            "0 2 * * *",
            "Europe/Berlin",
            utc(2026, 10, 22, 12),
            [
                "10-23 02:00:00 CEST",
                "10-24 02:00:00 CEST",
                "10-25 02:00:00 CEST",
                "10-26 02:00:00 CET",
            ],
        ),
        (
            "30 2 * * *",
            "Europe/Berlin",
            utc(2026, 10, 22, 12),
            [
                "10-23 02:30:00 CEST",
                "10-24 02:30:00 CEST",
                "10-25 02:30:00 CEST",
                "10-26 02:30:00 CET",
            ],
        ),
        # spring, New York: 02:00 and 02:30 do not exist on 8 Mar: once, at 03:00 EDT
        (
            "0 2 * * *",
            "America/New_York",
            utc(2026, 3, 6, 12),
            ["03-07 02:00:00 EST", "03-08 03:00:00 EDT", "03-09 02:00:00 EDT"],
        ),
        (
            "30 2 * * *",
            "America/New_York",
            utc(2026, 3, 6, 12),
            ["03-07 02:30:00 EST", "03-08 03:00:00 EDT", "03-09 02:30:00 EDT"],
        ),
        # autumn, New York: 01:30 happens twice on 1 Nov: once, the first time (EDT)
        (
            "30 1 * * *",
            "America/New_York",
            utc(2026, 10, 30, 12),
            ["10-31 01:30:00 EDT", "11-01 01:30:00 EDT", "11-02 01:30:00 EST"],
        ),
        # ... and 02:00 happens once there (the clocks go back at 02:00 EDT)
        (
            "0 2 * * *",
            "America/New_York",
            utc(2026, 10, 30, 12),
            ["10-31 02:00:00 EDT", "11-01 02:00:00 EST", "11-02 02:00:00 EST"],
        ),
        (
            "30 2 * * *",
            "America/New_York",
            utc(2026, 10, 30, 12),
            ["10-31 02:30:00 EDT", "11-01 02:30:00 EST", "11-02 02:30:00 EST"],
        ),
    ],
)
def test_fixed_hours_across_dst(
    expression: str, zone: str, after: datetime, expected: list[str]
) -> None:
    runs = parse(expression, zone).next_runs(after, len(expected))
    assert local(runs, ZoneInfo(zone)) == expected
    assert all(r.tzinfo is UTC for r in runs)


def test_fixed_hours_in_one_gap_collapse_into_one_fire() -> None:
    # 02:00, 02:30 and 03:00 all mean 03:00 CEST on 29 Mar; 03:30 is real.
    cron = parse("0,30 2,3 * * *", "Europe/Berlin")
    runs = cron.next_runs(utc(2026, 3, 28, 12), 3)
    assert local(runs, BERLIN) == [
        "03-29 03:00:00 CEST",
        "03-29 03:30:00 CEST",
        "03-30 02:00:00 CEST",
    ]
    cron = parse("30 1-3 * * *", "Europe/Berlin")
    runs = cron.next_runs(utc(2026, 3, 28, 12), 4)
    assert local(runs, BERLIN) == [
        "03-29 01:30:00 CET",
        "03-29 03:00:00 CEST",
        "03-29 03:30:00 CEST",
        "03-30 01:30:00 CEST",
    ]
    # and from inside the gap day, the fire just returned is not returned again
    assert cron.next_after(utc(2026, 3, 29, 1)) == utc(2026, 3, 29, 1, 30)


def test_fixed_hours_repeated_hour_fires_once_even_when_asked_from_inside_it() -> None:
    cron = parse("*/20 2 * * *", "Europe/Berlin")  # minute step, hour fixed: fixed hours
    assert cron.fixed_hours
    runs = fires_between(cron, utc(2026, 10, 24, 22), utc(2026, 10, 25, 22))
    assert local(runs, BERLIN) == [
        "10-25 02:00:00 CEST",
        "10-25 02:20:00 CEST",
        "10-25 02:40:00 CEST",
    ]
    # asked during the second 02:xx (CET), nothing more that day
    assert cron.next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1)


def day_bounds(day: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = day.replace(tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (BERLIN, datetime(2026, 3, 29), 23),
        (BERLIN, datetime(2026, 10, 25), 25),
        (NEW_YORK, datetime(2026, 3, 8), 23),
        (NEW_YORK, datetime(2026, 11, 1), 25),
        (BERLIN, datetime(2026, 6, 1), 24),
    ],
)
def test_every_five_minutes_fires_at_every_real_instant(
    zone: ZoneInfo, day: datetime, hours: int
) -> None:
    cron = parse("*/5 * * * *", str(zone))
    assert not cron.fixed_hours
    start, end = day_bounds(day, zone)
    assert end - start == timedelta(hours=hours)
    runs = fires_between(cron, start, end)
    assert len(runs) == hours * 12  # 276 in spring, 300 in autumn
    # every five real minutes, no gap, no duplicate
    assert runs == [start + timedelta(minutes=5 * i) for i in range(hours * 12)]


def test_repeated_hour_fires_in_both_occurrences_in_real_order() -> None:
    cron = parse("*/20 * * * *", "Europe/Berlin")
    runs = cron.next_runs(utc(2026, 10, 24, 22, 50), 8)
    assert local(runs, BERLIN) == [
        "10-25 01:00:00 CEST", "10-25 01:20:00 CEST", "10-25 01:40:00 CEST",
        "10-25 02:00:00 CEST", "10-25 02:20:00 CEST", "10-25 02:40:00 CEST",
        "10-25 02:00:00 CET", "10-25 02:20:00 CET",
    ]  # fmt: skip
    # asked from inside the first 02:xx, the second one is still ahead
    assert local(cron.next_runs(utc(2026, 10, 25, 0, 30), 4), BERLIN) == [
        "10-25 02:40:00 CEST", "10-25 02:00:00 CET", "10-25 02:20:00 CET", "10-25 02:40:00 CET",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "zone", "day", "expected"),
    [
        ("0 */2 * * *", BERLIN, datetime(2026, 3, 29), 11),  # 02:00 does not happen
        ("0 */2 * * *", BERLIN, datetime(2026, 10, 25), 13),  # 02:00 happens twice
        ("@hourly", BERLIN, datetime(2026, 3, 29), 23),
        ("@hourly", BERLIN, datetime(2026, 10, 25), 25),
        ("@hourly", NEW_YORK, datetime(2026, 3, 8), 23),
        ("@hourly", NEW_YORK, datetime(2026, 11, 1), 25),
        ("@daily", NEW_YORK, datetime(2026, 11, 1), 1),
        ("30 1 * * *", NEW_YORK, datetime(2026, 11, 1), 1),
        ("30 2 * * *", NEW_YORK, datetime(2026, 3, 8), 1),
    ],
)
def test_fires_per_dst_day(expression: str, zone: ZoneInfo, day: datetime, expected: int) -> None:
    start, end = day_bounds(day, zone)
    assert len(fires_between(parse(expression, str(zone)), start, end)) == expected


@pytest.mark.parametrize("expression", ["*/5 * * * *", "7 * * * *", "0 */2 * * *", "*/30 * * * *"])
@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_hour_wildcards_match_croniter_on_every_real_minute(
    expression: str, zone: ZoneInfo
) -> None:
    """Brute force: a real minute fires iff its local wall time matches the expression.
    The first six hours of both change days hold both changes (at 02:00 or 03:00)."""
    days = {BERLIN: (datetime(2026, 3, 29), datetime(2026, 10, 25))}
    days[NEW_YORK] = (datetime(2026, 3, 8), datetime(2026, 11, 1))
    cron = parse(expression, str(zone))
    for day in days[zone]:
        start = day_bounds(day, zone)[0]
        real_minutes = [start + timedelta(minutes=m) for m in range(6 * 60)]
        expected = [
            at
            for at in real_minutes
            if croniter.match(expression, at.astimezone(zone).replace(tzinfo=None))
        ]
        assert fires_between(cron, start, real_minutes[-1] + timedelta(minutes=1)) == expected


# --- describe -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone", "text"),
    [
        ("0 2 * * *", "UTC", "At 02:00 AM"),
        ("0 2 * * *", "Europe/Berlin", "At 02:00 AM, Europe/Berlin"),
        ("*/5 * * * *", "UTC", "Every 5 minutes"),
        ("*/10 * * * * *", "UTC", "Every 10 seconds"),
        ("30 0 2 * * *", "UTC", "At 02:00:30 AM"),
        ("@daily", "UTC", "At 12:00 AM"),
        ("@hourly", "America/New_York", "Every hour, America/New_York"),
        ("0 9 * * MON-FRI", "UTC", "At 09:00 AM, Monday through Friday"),
        ("0 0 1 * mon", "UTC", "At 12:00 AM, on day 1 of the month, or on Monday"),
    ],
)
def test_describe(expression: str, zone: str, text: str) -> None:
    assert parse(expression, zone).describe() == text


# --- due_ticks (docs/cron.md) -------------------------------------------------------------

EVERY_MINUTE = parse("* * * * *")
NOW = utc(2026, 5, 1, 12)


@pytest.mark.parametrize("policy", list(MisfirePolicy))
def test_on_time_ticks_all_fire_whatever_the_policy(policy: MisfirePolicy) -> None:
    due, following = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11, 58), NOW, 120, policy)
    assert due == minutes(utc(2026, 5, 1, 11), 58, 59, 60)
    assert following == utc(2026, 5, 1, 12, 1)


def test_grace_boundary_is_inclusive() -> None:
    # 11:59 is exactly 60 s old: on time; 11:58 is missed
    due, _ = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11, 58), NOW, 60, SKIP)
    assert due == minutes(utc(2026, 5, 1, 11), 59, 60)
    # a millisecond less grace and 11:59 is missed too
    due, _ = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11, 58), NOW, 59.999, SKIP)
    assert due == [NOW]
    due, _ = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11, 58), NOW, 0, SKIP)
    assert due == [NOW]


def test_next_run_at_equal_to_now_is_due() -> None:
    assert due_ticks(EVERY_MINUTE, NOW, NOW, 60, SKIP) == ([NOW], utc(2026, 5, 1, 12, 1))


def test_next_run_at_still_ahead_is_left_alone() -> None:
    ahead = utc(2026, 5, 1, 12, 1)
    assert due_ticks(EVERY_MINUTE, ahead, NOW, 60, CATCH_UP) == ([], ahead)


def test_skip_drops_missed_ticks() -> None:
    due, following = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11), NOW, 60, SKIP)
    assert due == minutes(utc(2026, 5, 1, 11), 59, 60)
    assert following == utc(2026, 5, 1, 12, 1)


def test_fire_once_runs_the_latest_missed_tick_for_all() -> None:
    due, following = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11), NOW, 60, FIRE_ONCE)
    assert due == minutes(utc(2026, 5, 1, 11), 58, 59, 60)
    assert following == utc(2026, 5, 1, 12, 1)


def test_catch_up_runs_each_missed_tick() -> None:
    due, following = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11), NOW, 60, CATCH_UP)
    assert due == minutes(utc(2026, 5, 1, 11), *range(61))
    assert following == utc(2026, 5, 1, 12, 1)


def test_catch_up_keeps_the_most_recent_limit() -> None:
    due, _ = due_ticks(EVERY_MINUTE, NOW - timedelta(days=3), NOW, 60, CATCH_UP)
    assert CATCH_UP_LIMIT == 100
    assert len(due) == CATCH_UP_LIMIT + 2  # 100 missed, then 11:59 and 12:00 on time
    assert due[0] == utc(2026, 5, 1, 10, 19)  # 11:58 - 99 min
    assert due[99] == utc(2026, 5, 1, 11, 58)
    assert due[100:] == minutes(utc(2026, 5, 1, 11), 59, 60)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (SKIP, []),
        (FIRE_ONCE, [utc(2026, 5, 1, 12)]),
        (CATCH_UP, [utc(2026, 5, 1, h) for h in (10, 11, 12)]),
    ],
)
def test_only_missed_ticks(policy: MisfirePolicy, expected: list[datetime]) -> None:
    hourly = parse("0 * * * *")
    now = utc(2026, 5, 1, 12, 30)
    assert due_ticks(hourly, utc(2026, 5, 1, 10), now, 60, policy) == (
        expected,
        utc(2026, 5, 1, 13),
    )


def test_ticks_before_next_run_at_are_never_returned() -> None:
    # next_run_at 11:58:30 is not a tick itself: 11:58 precedes it
    due, _ = due_ticks(EVERY_MINUTE, utc(2026, 5, 1, 11, 58, 30), NOW, 0, CATCH_UP)
    assert due == minutes(utc(2026, 5, 1, 11), 59, 60)


@pytest.mark.parametrize("policy", list(MisfirePolicy))
def test_every_second_down_for_a_month_returns_fast(policy: MisfirePolicy) -> None:
    cron = parse("* * * * * *")  # 2.6 million missed ticks
    started = time.perf_counter()
    due, following = due_ticks(cron, NOW - timedelta(days=30), NOW, 60, policy)
    assert time.perf_counter() - started < 1.0
    on_time = [NOW - timedelta(seconds=s) for s in range(60, -1, -1)]
    missed = {SKIP: 0, FIRE_ONCE: 1, CATCH_UP: CATCH_UP_LIMIT}[policy]
    assert due == [NOW - timedelta(seconds=60 + s) for s in range(missed, 0, -1)] + on_time
    assert following == NOW + timedelta(seconds=1)


def test_fire_once_far_back_finds_the_latest_missed_tick_fast() -> None:
    yearly = parse("@yearly", "Europe/Berlin")
    started = time.perf_counter()
    due, following = due_ticks(yearly, utc(2000, 1, 1), NOW, 60, FIRE_ONCE)
    assert time.perf_counter() - started < 1.0
    assert due == [utc(2025, 12, 31, 23)]
    assert following == utc(2026, 12, 31, 23)


@pytest.mark.parametrize(
    ("expression", "zone", "start", "now"),
    [
        ("*/5 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 0)),
        ("*/5 * * * *", "Europe/Berlin", utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 2, 0)),
        ("*/5 * * * *", "America/New_York", utc(2026, 11, 1, 4), utc(2026, 11, 1, 7)),
        ("*/20 * * * *", "America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 8, 9)),
        ("0,30 2,3 * * *", "Europe/Berlin", utc(2026, 3, 27), utc(2026, 3, 31)),
        ("30 1 * * *", "America/New_York", utc(2026, 10, 30), utc(2026, 11, 3)),
        ("*/20 2 * * *", "Europe/Berlin", utc(2026, 10, 23), utc(2026, 10, 27)),
    ],
)
def test_catch_up_across_dst_matches_the_forward_fire_times(
    expression: str, zone: str, start: datetime, now: datetime
) -> None:
    """Missed ticks are found walking backwards; they must be the very ticks found walking
    forwards, folds and gaps included."""
    cron = parse(expression, zone)
    expected = fires_between(cron, start, now + timedelta(microseconds=1))
    assert 0 < len(expected) <= CATCH_UP_LIMIT
    # each tick in turn as now, grace 0: every earlier tick is missed and caught up
    for cut in range(len(expected)):
        due, following = due_ticks(cron, start, expected[cut], 0, CATCH_UP)
        assert due == expected[: cut + 1]
        assert following == cron.next_after(expected[cut])
    due, _ = due_ticks(cron, start, now, 0, CATCH_UP)
    assert due == expected


def test_on_time_ticks_are_bounded_too() -> None:
    """A week's grace on an every-second schedule down for a day: the latest 100 run."""
    every_second = parse("* * * * * *")
    now = datetime(2026, 5, 2, 12, 0, 0, 500_000, tzinfo=UTC)
    started = time.perf_counter()
    due, following = due_ticks(
        every_second, now - timedelta(days=1), now, 7 * 86400, MisfirePolicy.CATCH_UP
    )
    assert time.perf_counter() - started < 1.0
    assert len(due) == CATCH_UP_LIMIT
    assert due[-1] == now.replace(microsecond=0)
    assert due[0] == due[-1] - timedelta(seconds=CATCH_UP_LIMIT - 1)
    assert following == due[-1] + timedelta(seconds=1)
