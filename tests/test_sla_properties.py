"""Hypothesis properties of the calendar arithmetic, checked against a slow reference.

Received instants are drawn over 2025–2027 (so both DST changes, Christmas, Easter and the
LV working Saturdays are in range); explicit examples pin the tricky weekends.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from triage_desk.config import CalendarConfig, ShortenedDay, load_config
from triage_desk.sla import BusinessCalendar, due_times
from triage_desk.sla.targets import Unit

RIGA = ZoneInfo("Europe/Riga")
UTC = dt.UTC
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.example.toml")

CALENDARS = {
    "municipal": BusinessCalendar.from_config(CONFIG.desks["municipal"].calendar),
    "eparaksts": BusinessCalendar.from_config(CONFIG.desks["eparaksts"].calendar),
    # Exceptions of every kind, plus a Saturday desk.
    "exceptions": BusinessCalendar.from_config(
        CalendarConfig(
            workdays=["mon", "tue", "wed", "thu", "fri", "sat"],
            open=dt.time(8),
            close=dt.time(20),
            extra_working_days=[dt.date(2026, 12, 27), dt.date(2026, 3, 29)],
            extra_days_off=[dt.date(2026, 10, 26), dt.date(2026, 1, 17)],
            shortened_days=[
                ShortenedDay(date=dt.date(2026, 12, 23), close=dt.time(12)),
                ShortenedDay(date=dt.date(2026, 10, 24), close=dt.time(9)),
            ],
        )
    ),
    # Open across the DST change hours every day: each change eats or adds business time.
    "night": BusinessCalendar.from_config(
        CalendarConfig(
            workdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            open=dt.time(2),
            close=dt.time(5),
            holidays_country=None,
        )
    ),
}
CATEGORIES = {
    "municipal": CONFIG.desks["municipal"].categories,
    "eparaksts": CONFIG.desks["eparaksts"].categories,
    "exceptions": CONFIG.desks["municipal"].categories,
    "night": CONFIG.desks["municipal"].categories,
}

_BASE = dt.datetime(2025, 12, 1, tzinfo=UTC)
_SPAN_SECONDS = 3 * 365 * 24 * 3600

# Instants to second precision; the examples are DST weekends, Christmas and edges of hours.
instants = st.integers(0, _SPAN_SECONDS).map(lambda s: _BASE + dt.timedelta(seconds=s))
calendar_names = st.sampled_from(sorted(CALENDARS))
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TRICKY = [
    dt.datetime(2026, 3, 27, 16, 30, tzinfo=RIGA),  # Friday before spring change
    dt.datetime(2026, 3, 29, 3, 0, tzinfo=UTC),  # Sunday of the spring change
    dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC),  # the night of the autumn change
    dt.datetime(2026, 10, 25, 3, 30, fold=1, tzinfo=RIGA),
    dt.datetime(2026, 12, 23, 16, 59, 59, tzinfo=RIGA),  # last second before Christmas
    dt.datetime(2026, 1, 16, 17, 0, tzinfo=RIGA),  # before the working Saturday
    dt.datetime(2026, 4, 2, 17, 0, tzinfo=RIGA),  # before Easter
]
# In UTC: Python never finds a fold=1 datetime == to one in another zone (PEP 495).
TRICKY = [t.astimezone(UTC) for t in TRICKY]


def business_time_between(
    cal: BusinessCalendar, start: dt.datetime, end: dt.datetime
) -> dt.timedelta:
    """Reference: sum of overlaps of [start, end] with each day's opening hours."""
    # All in UTC: two datetimes sharing a zone compare and subtract by wall clock, not time.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = dt.timedelta(0)
    day = start.astimezone(cal.zone).date()
    while day <= end.astimezone(cal.zone).date():
        hours = cal.opening_hours(day)
        if hours is not None:
            lo, hi = max(start, hours[0].astimezone(UTC)), min(end, hours[1].astimezone(UTC))
            if lo < hi:
                total += hi - lo
        day += dt.timedelta(days=1)
    return total


def day_of(cal: BusinessCalendar, instant: dt.datetime) -> dt.date:
    return instant.astimezone(cal.zone).date()


# -- clock start and due ordering ---------------------------------------------------------


@FAST
@given(name=calendar_names, received=instants)
@example(name="municipal", received=TRICKY[0])
@example(name="municipal", received=TRICKY[4])
@example(name="night", received=TRICKY[1])
@example(name="night", received=TRICKY[2])
def test_due_not_before_clock_start_not_before_received(name: str, received: dt.datetime) -> None:
    cal = CALENDARS[name]
    for category in CATEGORIES[name].values():
        times = due_times(cal, category, received)
        assert received <= times.clock_start
        for due in (times.response_due, times.resolution_due):
            assert due is None or times.clock_start <= due
        if category.around_the_clock:
            assert times.clock_start == received
        else:
            assert cal.is_open(times.clock_start)
            # Nothing open between receipt and clock start.
            assert business_time_between(cal, received, times.clock_start) == dt.timedelta(0)


@FAST
@given(name=calendar_names, first=instants, gap=st.integers(0, 10 * 24 * 3600))
@example(name="municipal", first=TRICKY[4], gap=1)
@example(name="night", first=TRICKY[3], gap=1800)
def test_due_is_monotonic_in_received(name: str, first: dt.datetime, gap: int) -> None:
    # Months are excluded: clamping to the month's end makes them non-monotonic by
    # convention (see test_months_are_not_monotonic_because_of_clamping).
    cal = CALENDARS[name]
    second = first + dt.timedelta(seconds=gap)
    for category in CATEGORIES[name].values():
        a, b = due_times(cal, category, first), due_times(cal, category, second)
        assert a.clock_start <= b.clock_start
        for target, due_a, due_b in (
            (category.response, a.response_due, b.response_due),
            (category.resolution, a.resolution_due, b.resolution_due),
        ):
            if target is not None and target.unit is not Unit.MONTHS:
                assert due_a is not None and due_b is not None
                assert due_a <= due_b


# -- business hours -----------------------------------------------------------------------

minutes = st.integers(0, 60 * 60)  # up to 60 business hours, in whole minutes


@FAST
@given(name=calendar_names, received=instants, a=minutes, b=minutes)
@example(name="municipal", received=TRICKY[0], a=30, b=90)
@example(name="municipal", received=TRICKY[5], a=0, b=8 * 60)
@example(name="night", received=TRICKY[1], a=120, b=60)
def test_business_hours_split_in_two_steps(
    name: str, received: dt.datetime, a: int, b: int
) -> None:
    cal = CALENDARS[name]
    start = cal.clock_start(received)
    in_two = cal.add_business_hours(cal.add_business_hours(start, a / 60), b / 60)
    assert in_two == cal.add_business_hours(start, (a + b) / 60)


@FAST
@given(name=calendar_names, received=instants, amount=st.integers(1, 80 * 60))
@example(name="municipal", received=TRICKY[4], amount=1)
@example(name="night", received=TRICKY[2], amount=4 * 60)
def test_business_hours_result_is_exact_and_in_hours(
    name: str, received: dt.datetime, amount: int
) -> None:
    cal = CALENDARS[name]
    start = cal.clock_start(received)
    due = cal.add_business_hours(start, amount / 60)
    # Inside business hours, or exactly at a close; never at an opening (the previous close
    # would have been earlier with the same elapsed time).
    hours = cal.opening_hours(day_of(cal, due))
    assert hours is not None
    assert hours[0] < due <= hours[1]
    assert cal.is_open(due) or due == hours[1]
    # Exactly the requested business time has elapsed (reference computation).
    assert business_time_between(cal, start, due) == dt.timedelta(minutes=amount)


@FAST
@given(
    name=calendar_names,
    first=instants,
    gap=st.integers(0, 5 * 24 * 3600),
    amount=st.integers(0, 40 * 60),
)
def test_business_hours_monotonic_in_start(
    name: str, first: dt.datetime, gap: int, amount: int
) -> None:
    cal = CALENDARS[name]
    second = first + dt.timedelta(seconds=gap)
    assert cal.add_business_hours(first, amount / 60) <= cal.add_business_hours(second, amount / 60)


# -- business days ------------------------------------------------------------------------

day_counts = st.integers(0, 25)


@FAST
@given(name=calendar_names, received=instants, a=day_counts, b=day_counts)
@example(name="municipal", received=TRICKY[4], a=0, b=5)
@example(name="eparaksts", received=TRICKY[5], a=1, b=1)
def test_business_days_split_in_two_steps(name: str, received: dt.datetime, a: int, b: int) -> None:
    cal = CALENDARS[name]
    start = cal.clock_start(received)
    assert cal.add_business_days(cal.add_business_days(start, a), b) == cal.add_business_days(
        start, a + b
    )


@FAST
@given(name=calendar_names, received=instants, days=day_counts)
@example(name="municipal", received=TRICKY[6], days=1)
def test_business_days_end_at_the_nth_close(name: str, received: dt.datetime, days: int) -> None:
    cal = CALENDARS[name]
    start = cal.clock_start(received)
    due = cal.add_business_days(start, days)
    due_day = day_of(cal, due)
    hours = cal.opening_hours(due_day)
    assert hours is not None and due == hours[1]
    # Count business days after the clock-start day up to and including the due day.
    counted, day = 0, day_of(cal, start)
    while day < due_day:
        day += dt.timedelta(days=1)
        counted += cal.is_business_day(day)
    assert counted == days


# -- calendar consistency -----------------------------------------------------------------


@FAST
@given(name=calendar_names, instant=instants)
@example(name="night", instant=TRICKY[3])
def test_next_opening_is_the_first_open_instant(name: str, instant: dt.datetime) -> None:
    cal = CALENDARS[name]
    opening = cal.next_opening(instant)
    assert opening >= instant
    assert cal.is_open(opening)
    if cal.is_open(instant):
        assert opening == instant
    else:
        assert opening == cal.opening_hours(day_of(cal, opening))[0]  # type: ignore[index]
        assert business_time_between(cal, instant, opening) == dt.timedelta(0)


@pytest.mark.parametrize("name", sorted(CALENDARS))
def test_is_open_matches_opening_hours_every_half_hour_of_dst_weeks(name: str) -> None:
    cal = CALENDARS[name]
    for week_start in (dt.datetime(2026, 3, 23, tzinfo=UTC), dt.datetime(2026, 10, 19, tzinfo=UTC)):
        for step in range(14 * 24 * 2):
            instant = week_start + dt.timedelta(minutes=30 * step)
            hours = cal.opening_hours(day_of(cal, instant))
            expected = hours is not None and hours[0] <= instant < hours[1]
            assert cal.is_open(instant) is expected
