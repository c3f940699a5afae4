"""BusinessCalendar: business days, opening hours, clock start and business-time arithmetic.

Every expected value below was worked out by hand from a 2026 calendar; the comments show
the reasoning. Riga is UTC+2 in winter and UTC+3 in summer; DST 2026 starts Sunday 29 March
(03:00 → 04:00) and ends Sunday 25 October (04:00 → 03:00).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from triage_desk.config import CalendarConfig, ShortenedDay, load_config
from triage_desk.sla import BusinessCalendar

RIGA = ZoneInfo("Europe/Riga")
UTC = dt.UTC
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.example.toml")


def L(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> dt.datetime:
    """A Riga wall time (fold=0)."""
    return dt.datetime(y, m, d, h, mi, s, tzinfo=RIGA)


def U(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=UTC)


D = dt.date


@pytest.fixture(scope="module")
def mun() -> BusinessCalendar:
    """Municipal desk: Mon–Fri 9:00–17:00, LV holidays."""
    return BusinessCalendar.from_config(CONFIG.desks["municipal"].calendar)


@pytest.fixture(scope="module")
def epa() -> BusinessCalendar:
    """eParaksts desk: Mon–Fri 9:00–18:00, LV holidays."""
    return BusinessCalendar.from_config(CONFIG.desks["eparaksts"].calendar)


# -- business days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 1, 1), False),  # Thu, New Year's Day
        (D(2026, 1, 2), False),  # Fri, day off substituted from Sat 17 January
        (D(2026, 1, 5), True),  # Mon, ordinary
        (D(2026, 1, 17), True),  # Sat, transferred working Saturday
        (D(2026, 1, 18), False),  # Sun
        (D(2026, 1, 24), False),  # Sat, ordinary weekend
        (D(2026, 4, 3), False),  # Good Friday
        (D(2026, 4, 6), False),  # Easter Monday
        (D(2026, 4, 7), True),  # Tue after Easter
        (D(2026, 5, 1), False),  # Fri, Labour Day
        (D(2026, 5, 4), False),  # Mon, Restoration of Independence Day
        (D(2026, 6, 22), False),  # Mon, day off substituted from Sat 27 June
        (D(2026, 6, 23), False),  # Midsummer Eve
        (D(2026, 6, 24), False),  # Midsummer Day
        (D(2026, 6, 25), True),  # Thu
        (D(2026, 6, 27), True),  # Sat, transferred working Saturday
        (D(2026, 11, 18), False),  # Proclamation Day
        (D(2026, 12, 23), True),  # Wed before Christmas
        (D(2026, 12, 24), False),  # Christmas Eve
        (D(2026, 12, 25), False),  # Christmas Day
        (D(2026, 12, 26), False),  # Sat, Second Day of Christmas
        (D(2026, 12, 28), True),  # Mon
        (D(2026, 12, 31), False),  # New Year's Eve
        (D(2027, 1, 1), False),  # Fri, New Year's Day
        (D(2027, 1, 4), True),  # Mon
        (D(2024, 12, 30), False),  # Mon, 2024 day off substituted from Sat 28 December
        (D(2024, 12, 28), True),  # the working Saturday itself
    ],
)
def test_business_days_lv(mun: BusinessCalendar, day: dt.date, expected: bool) -> None:
    assert mun.is_business_day(day) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 1, 16), D(2026, 1, 17)),  # Fri → working Saturday
        (D(2026, 1, 17), D(2026, 1, 19)),  # working Saturday → Mon
        (D(2025, 12, 30), D(2026, 1, 5)),  # 31 Dec, 1 Jan, 2 Jan off, weekend
        (D(2026, 4, 2), D(2026, 4, 7)),  # Easter: Good Friday .. Easter Monday
        (D(2026, 6, 19), D(2026, 6, 25)),  # 22 (substituted), 23, 24 June off
        (D(2026, 12, 23), D(2026, 12, 28)),  # Christmas
        (D(2026, 12, 30), D(2027, 1, 4)),  # 31 Dec, 1 Jan, weekend
        (D(2026, 11, 30), D(2026, 12, 1)),  # strictly after, even on a business day
    ],
)
def test_next_business_day(mun: BusinessCalendar, day: dt.date, expected: dt.date) -> None:
    assert mun.next_business_day(day) == expected


def test_explicit_config_wins_over_package() -> None:
    cal = BusinessCalendar.from_config(
        CalendarConfig(
            extra_working_days=[D(2026, 1, 2), D(2026, 12, 26)],  # package days off
            extra_days_off=[D(2026, 1, 17), D(2026, 12, 23)],  # working Sat; ordinary Wed
        )
    )
    assert cal.is_business_day(D(2026, 1, 2))
    assert cal.is_business_day(D(2026, 12, 26))
    assert not cal.is_business_day(D(2026, 1, 17))
    assert not cal.is_business_day(D(2026, 12, 23))
    # Extra working days use the normal hours.
    assert cal.opening_hours(D(2026, 12, 26)) == (L(2026, 12, 26, 9), L(2026, 12, 26, 17))
    # Tue 22 Dec 16:00 + 2 bh: 1 h on the 22nd, the 23rd is off, 24/25 holidays,
    # Sat 26 is an extra working day → 10:00 on the 26th.
    assert cal.add_business_hours(L(2026, 12, 22, 16), 2) == L(2026, 12, 26, 10)


def test_without_holidays_country_only_weekdays_count() -> None:
    cal = BusinessCalendar.from_config(CalendarConfig(holidays_country=None))
    assert cal.is_business_day(D(2026, 1, 1))  # Thursday
    assert cal.is_business_day(D(2026, 12, 25))  # Friday
    assert not cal.is_business_day(D(2026, 1, 17))  # no package, so no working Saturday
    assert not cal.is_business_day(D(2026, 12, 26))


def test_six_day_week_still_skips_holidays() -> None:
    cal = BusinessCalendar.from_config(
        CalendarConfig(workdays=["mon", "tue", "wed", "thu", "fri", "sat"])
    )
    assert cal.is_business_day(D(2026, 11, 28))  # ordinary Saturday
    assert not cal.is_business_day(D(2026, 12, 26))  # Saturday holiday
    assert not cal.is_business_day(D(2026, 11, 29))  # Sunday


def test_other_country_and_zone() -> None:
    cal = BusinessCalendar.from_config(
        CalendarConfig(zone="America/New_York", holidays_country="US", holidays_subdivision="NY")
    )
    assert not cal.is_business_day(D(2026, 7, 3))  # Independence Day observed (Friday)
    assert cal.is_business_day(D(2026, 7, 2))
    # 9:00 EDT = 13:00 UTC.
    assert cal.next_opening(U(2026, 7, 4, 12)) == U(2026, 7, 6, 13)


def test_empty_week_fails_loudly() -> None:
    cal = BusinessCalendar.from_config(CalendarConfig(workdays=[], holidays_country=None))
    with pytest.raises(ValueError, match="no business day"):
        cal.next_business_day(D(2026, 1, 1))


# -- opening hours ----------------------------------------------------------------------


def test_opening_hours_are_local_and_aware(mun: BusinessCalendar) -> None:
    hours = mun.opening_hours(D(2026, 11, 30))
    assert hours == (L(2026, 11, 30, 9), L(2026, 11, 30, 17))
    assert hours is not None
    assert all(h.tzinfo is not None and h.tzinfo.key == "Europe/Riga" for h in hours)
    assert hours[0].isoformat() == "2026-11-30T09:00:00+02:00"
    assert mun.opening_hours(D(2026, 11, 29)) is None  # Sunday
    assert mun.opening_hours(D(2026, 12, 24)) is None  # holiday
    assert mun.opening_hours(D(2026, 1, 17)) == (L(2026, 1, 17, 9), L(2026, 1, 17, 17))


def test_opening_hours_around_dst(mun: BusinessCalendar) -> None:
    # Friday before the spring change is winter time, the Monday after is summer time:
    # same wall clock, UTC opening one hour earlier.
    fri = mun.opening_hours(D(2026, 3, 27))
    mon = mun.opening_hours(D(2026, 3, 30))
    assert fri is not None and mon is not None
    assert fri[0] == U(2026, 3, 27, 7) and fri[0].hour == 9
    assert mon[0] == U(2026, 3, 30, 6) and mon[0].hour == 9
    assert mon[1].isoformat() == "2026-03-30T17:00:00+03:00"
    # Autumn: Friday 23 Oct is summer time, Monday 26 Oct winter time.
    assert mun.opening_hours(D(2026, 10, 23))[0] == U(2026, 10, 23, 6)  # type: ignore[index]
    assert mun.opening_hours(D(2026, 10, 26))[0] == U(2026, 10, 26, 7)  # type: ignore[index]


def test_every_day_of_2026_keeps_its_wall_clock(mun: BusinessCalendar) -> None:
    day = D(2026, 1, 1)
    while day.year == 2026:
        hours = mun.opening_hours(day)
        if hours is not None:
            assert (hours[0].time(), hours[1].time()) == (dt.time(9), dt.time(17))
            assert hours[0].date() == hours[1].date() == day
        day += dt.timedelta(days=1)


def test_shortened_day() -> None:
    cal = BusinessCalendar.from_config(
        CalendarConfig(shortened_days=[ShortenedDay(date=D(2026, 12, 23), close=dt.time(16))])
    )
    assert cal.opening_hours(D(2026, 12, 23)) == (L(2026, 12, 23, 9), L(2026, 12, 23, 16))
    assert cal.is_open(L(2026, 12, 23, 15, 59))
    assert not cal.is_open(L(2026, 12, 23, 16))
    # 16:00 on the shortened day is closed → Mon 28 Dec 9:00.
    assert cal.clock_start(L(2026, 12, 23, 16)) == L(2026, 12, 28, 9)
    # 15:00 + 2 bh: 1 h until the early close, then Mon 28 Dec 9:00 + 1 h.
    assert cal.add_business_hours(L(2026, 12, 23, 15), 2) == L(2026, 12, 28, 10)
    # 0 business days → the (early) close of that day.
    assert cal.add_business_days(L(2026, 12, 23, 10), 0) == L(2026, 12, 23, 16)


def test_night_hours_on_dst_days_are_real_elapsed_time() -> None:
    # A desk open 02:00–05:00 every day: the spring-change day has only 2 real hours
    # (02:00+02 = 00:00Z to 05:00+03 = 02:00Z), the autumn-change day has 4
    # (02:00+03 = 23:00Z to 05:00+02 = 03:00Z).
    cal = BusinessCalendar.from_config(
        CalendarConfig(
            workdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            open=dt.time(2),
            close=dt.time(5),
            holidays_country=None,
        )
    )
    spring = cal.opening_hours(D(2026, 3, 29))
    autumn = cal.opening_hours(D(2026, 10, 25))
    assert spring == (U(2026, 3, 29, 0), U(2026, 3, 29, 2))
    assert autumn == (U(2026, 10, 24, 23), U(2026, 10, 25, 3))
    assert cal.add_business_hours(U(2026, 3, 29, 0), 2) == U(2026, 3, 29, 2)  # at the close
    assert cal.add_business_hours(U(2026, 3, 29, 0), 3) == L(2026, 3, 30, 3)  # 1 h next day
    assert cal.add_business_hours(U(2026, 10, 24, 23), 4) == U(2026, 10, 25, 3)
    # 3.5 real hours after 02:00+03 (23:00Z) is 02:30Z = 04:30+02: the wall clock fell back.
    assert cal.add_business_hours(L(2026, 10, 25, 2), 3.5) == U(2026, 10, 25, 2, 30)


def test_opening_inside_the_spring_gap_moves_forward() -> None:
    # 03:30 does not exist on 29 March 2026 in Riga; it is read as 03:30+02 = 04:30+03.
    cal = BusinessCalendar.from_config(
        CalendarConfig(
            workdays=["sun"], open=dt.time(3, 30), close=dt.time(6), holidays_country=None
        )
    )
    opening, closing = cal.opening_hours(D(2026, 3, 29))  # type: ignore[misc]
    assert opening == U(2026, 3, 29, 1, 30)
    assert opening.isoformat() == "2026-03-29T04:30:00+03:00"
    assert closing == U(2026, 3, 29, 3)


# -- is_open / next_opening / clock_start -------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (L(2026, 11, 30, 9), True),  # exactly at open
        (L(2026, 11, 30, 17), False),  # exactly at close: half-open interval
        (L(2026, 11, 30, 16, 59, 59) + dt.timedelta(microseconds=999_999), True),
        (L(2026, 11, 30, 8, 59, 59), False),
        (U(2026, 11, 30, 7), True),  # 09:00+02 given in UTC
        (U(2026, 11, 30, 6, 59), False),
        (U(2026, 7, 1, 6), True),  # 09:00+03 in summer
        (U(2026, 7, 1, 14), False),  # 17:00+03
        (dt.datetime(2026, 11, 30, 9, tzinfo=ZoneInfo("Asia/Tokyo")), False),  # 02:00 Riga
        (L(2026, 11, 28, 12), False),  # Saturday
        (L(2026, 1, 17, 12), True),  # working Saturday
        (L(2026, 12, 24, 12), False),  # Christmas Eve
    ],
)
def test_is_open(mun: BusinessCalendar, instant: dt.datetime, expected: bool) -> None:
    assert mun.is_open(instant) is expected


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (L(2026, 11, 30, 9), L(2026, 11, 30, 9)),  # exactly at open → that instant
        (L(2026, 11, 30, 12, 34), L(2026, 11, 30, 12, 34)),  # open → itself
        (L(2026, 11, 30, 8, 15), L(2026, 11, 30, 9)),  # before opening → that morning
        (L(2026, 11, 27, 17), L(2026, 11, 30, 9)),  # Fri exactly at close → Mon
        (L(2026, 11, 27, 16, 59), L(2026, 11, 27, 16, 59)),
        (L(2026, 11, 27, 21, 40), L(2026, 11, 30, 9)),  # Friday evening → Monday
        (L(2026, 11, 28, 12), L(2026, 11, 30, 9)),  # Saturday → Monday
        # Weekend of the spring change: Sat is +02, Mon 9:00 is +03 = 06:00Z.
        (L(2026, 3, 28, 12), U(2026, 3, 30, 6)),
        (L(2026, 3, 29, 12), U(2026, 3, 30, 6)),
        # Weekend of the autumn change: Mon 26 Oct 9:00 is +02 = 07:00Z.
        (L(2026, 10, 24, 12), U(2026, 10, 26, 7)),
        (dt.datetime(2026, 10, 25, 3, 30, fold=1, tzinfo=RIGA), U(2026, 10, 26, 7)),
        (L(2026, 12, 23, 17), L(2026, 12, 28, 9)),  # Christmas
        (L(2026, 12, 30, 17, 30), L(2027, 1, 4, 9)),  # New Year
        (L(2026, 1, 1, 10), L(2026, 1, 5, 9)),  # 1 Jan, substituted 2 Jan, weekend
        (L(2026, 1, 16, 17), L(2026, 1, 17, 9)),  # Fri → working Saturday
        (L(2026, 4, 2, 17), L(2026, 4, 7, 9)),  # Easter
        (L(2026, 6, 19, 18), L(2026, 6, 25, 9)),  # 22 (substituted), 23, 24 June
        (dt.datetime(2026, 11, 30, 6, 0), L(2026, 11, 30, 9)),  # naive = Riga wall time
    ],
)
def test_clock_start(mun: BusinessCalendar, received: dt.datetime, expected: dt.datetime) -> None:
    start = mun.clock_start(received)
    assert start == expected
    assert start.tzinfo is UTC
    assert mun.next_opening(received) == start


def test_eparaksts_hours(epa: BusinessCalendar) -> None:
    assert epa.is_open(L(2026, 11, 27, 17, 30))  # 9–18 desk
    assert not epa.is_open(L(2026, 11, 27, 18))
    assert epa.clock_start(L(2026, 11, 27, 18)) == L(2026, 11, 30, 9)


# -- business hours -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (L(2026, 11, 30, 15), 2, L(2026, 11, 30, 17)),  # ends at a close, not next 9:00
        (L(2026, 11, 27, 16, 30), 2, L(2026, 11, 30, 10, 30)),  # Fri: 0.5 h + Mon 1.5 h
        (L(2026, 11, 30, 10), 0, L(2026, 11, 30, 10)),  # zero → start itself
        (L(2026, 11, 28, 12), 0, L(2026, 11, 28, 12)),  # zero even outside hours
        (L(2026, 11, 30, 8), 1, L(2026, 11, 30, 10)),  # before opening
        (L(2026, 11, 30, 9), 8, L(2026, 11, 30, 17)),  # one full day ends at its close
        (L(2026, 11, 30, 9), 8.5, L(2026, 12, 1, 9, 30)),
        (L(2026, 11, 30, 16, 50), 0.25, L(2026, 12, 1, 9, 5)),  # 10 min + 5 min
        (L(2026, 11, 30, 9), 1 / 3, L(2026, 11, 30, 9, 20)),  # exact, no float drift
        # 16 bh from Fri 10:00: Fri 7 h, Mon 8 h, Tue 1 h → Tue 10:00.
        (L(2026, 11, 27, 10), 16, L(2026, 12, 1, 10)),
        # 16 bh from Fri 16:30: 0.5 + Mon 8 + Tue 7.5 → Tue 16:30.
        (L(2026, 11, 27, 16, 30), 16, L(2026, 12, 1, 16, 30)),
        # 40 bh from Mon 9:00: five full days → Fri 17:00.
        (L(2026, 11, 30, 9), 40, L(2026, 12, 4, 17)),
        # 40 bh from Wed 13:00: Wed 4, Thu 8, Fri 8, Mon 8, Tue 8 (36), Wed 4 → 13:00.
        (L(2026, 11, 25, 13), 40, L(2026, 12, 2, 13)),
        # Easter: Wed 1 Apr 12:00: Wed 5, Thu 8 (13), [Fri 3, Mon 6 off], Tue 7 (21),
        # Wed 8 (29), Thu 9 (37), Fri 10 3 h → 12:00.
        (L(2026, 4, 1, 12), 40, L(2026, 4, 10, 12)),
        # Christmas: Wed 23 Dec 16:30: 0.5, [24–27 off], Mon 28 8 (8.5), Tue 29 7.5 → 16:30.
        (L(2026, 12, 23, 16, 30), 16, L(2026, 12, 29, 16, 30)),
        # 40 bh from the same: 0.5, 28, 29, 30 (24.5), [31, 1 Jan, weekend], Mon 4 Jan (32.5),
        # Tue 5 Jan 7.5 → 16:30.
        (L(2026, 12, 23, 16, 30), 40, L(2027, 1, 5, 16, 30)),
        # Spring DST weekend: Fri 27 Mar 16:30+02 → Mon 30 Mar 10:30+03 (wall clock kept).
        (L(2026, 3, 27, 16, 30), 2, L(2026, 3, 30, 10, 30)),
        # Autumn DST weekend: Fri 23 Oct 16:30+03 → Mon 26 Oct 10:30+02.
        (L(2026, 10, 23, 16, 30), 2, L(2026, 10, 26, 10, 30)),
        # 16 bh across the autumn weekend: Fri 23 Oct 12:00: Fri 5, Mon 8, Tue 3 → 12:00.
        (L(2026, 10, 23, 12), 16, L(2026, 10, 27, 12)),
        # Working Saturday: Fri 16 Jan 16:00 + 2 → Sat 17 Jan 10:00.
        (L(2026, 1, 16, 16), 2, L(2026, 1, 17, 10)),
        # Fri 26 Jun 16:00 + 8: Fri 1 h, working Sat 27 Jun 7 h → 16:00 Saturday.
        (L(2026, 6, 26, 16), 8, L(2026, 6, 27, 16)),
        # Fri 19 Jun 16:00 + 8: Fri 1 h, [22, 23, 24 off], Thu 25 Jun 7 h → 16:00.
        (L(2026, 6, 19, 16), 8, L(2026, 6, 25, 16)),
        # From a holiday: 1 Jan 10:00 → clock at Mon 5 Jan 9:00, 8 h → 17:00.
        (L(2026, 1, 1, 10), 8, L(2026, 1, 5, 17)),
    ],
)
def test_add_business_hours(
    mun: BusinessCalendar, start: dt.datetime, hours: float, expected: dt.datetime
) -> None:
    due = mun.add_business_hours(start, hours)
    assert due == expected
    assert due.tzinfo is UTC


def test_add_business_hours_rejects_negative(mun: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        mun.add_business_hours(L(2026, 11, 30, 10), -1)


def test_large_business_hour_targets_add_up(mun: BusinessCalendar) -> None:
    # 8000 bh = 1000 full business days, about four years ahead (holidays of every year).
    # How long this takes is bench/sla_due.py's figure.
    start = L(2026, 11, 30, 9)
    due = mun.add_business_hours(start, 8000)
    assert mun.add_business_hours(mun.add_business_hours(start, 3000), 5000) == due
    assert due - mun.add_business_hours(start, 7999) == dt.timedelta(hours=1)
    assert L(2030, 9, 1) < due < L(2031, 1, 1)
    previous = None
    for minute in range(0, 2000, 7):  # later arrivals are never due earlier
        current = mun.add_business_hours(L(2026, 11, 27, 9) + dt.timedelta(minutes=minute), 40)
        assert previous is None or previous <= current
        previous = current


# -- business days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (L(2026, 11, 30, 10), 1, L(2026, 12, 1, 17)),  # Mon 10:00 + 1 → Tue close
        (L(2026, 11, 30, 10), 0, L(2026, 11, 30, 17)),  # 0 → close of the same day
        (L(2026, 11, 30, 9), 0, L(2026, 11, 30, 17)),
        # Fri 16:30 + 5: Mon 30 (1), Tue (2), Wed (3), Thu (4), Fri 4 Dec (5).
        (L(2026, 11, 27, 16, 30), 5, L(2026, 12, 4, 17)),
        # A chain continues from a close: Mon 17:00 counts as Monday.
        (L(2026, 11, 30, 17), 1, L(2026, 12, 1, 17)),
        # After closing the clock-start day is the next business day (Tue) → Wed.
        (L(2026, 11, 30, 17, 30), 1, L(2026, 12, 2, 17)),
        (L(2026, 11, 30, 8), 1, L(2026, 12, 1, 17)),  # before opening: that day
        (L(2026, 11, 28, 12), 0, L(2026, 11, 30, 17)),  # Saturday: clock starts Monday
        (L(2026, 11, 28, 12), 1, L(2026, 12, 1, 17)),
        # Over Christmas: Tue 22 Dec: 23 (1), [24–27], 28 (2), 29 (3), 30 (4), [31, 1 Jan,
        # weekend], Mon 4 Jan (5).
        (L(2026, 12, 22, 10), 5, L(2027, 1, 4, 17)),
        (L(2026, 12, 23, 16, 30), 5, L(2027, 1, 5, 17)),  # 28, 29, 30, 4 Jan, 5 Jan
        (L(2026, 4, 2, 10), 1, L(2026, 4, 7, 17)),  # Easter
        (L(2026, 1, 16, 10), 1, L(2026, 1, 17, 17)),  # → working Saturday
        # Spring DST: Fri 27 Mar + 1 → Mon 30 Mar 17:00+03 = 14:00Z.
        (L(2026, 3, 27, 10), 1, U(2026, 3, 30, 14)),
    ],
)
def test_add_business_days(
    mun: BusinessCalendar, start: dt.datetime, days: int, expected: dt.datetime
) -> None:
    due = mun.add_business_days(start, days)
    assert due == expected
    assert due.tzinfo is UTC


def test_add_business_days_eparaksts(epa: BusinessCalendar) -> None:
    # 9–18 desk: "1 working_day" ends at 18:00 of the next working day.
    assert epa.add_business_days(L(2026, 11, 27, 17, 30), 1) == L(2026, 11, 30, 18)
    assert epa.add_business_days(L(2026, 11, 30, 9), 1) == L(2026, 12, 1, 18)


def test_add_business_days_rejects_bad_counts(mun: BusinessCalendar) -> None:
    with pytest.raises(ValueError):
        mun.add_business_days(L(2026, 11, 30, 10), -1)
    with pytest.raises(ValueError):
        mun.add_business_days(L(2026, 11, 30, 10), 1.5)  # type: ignore[arg-type]


def test_holiday_tables_are_kept_in_a_folder_and_read_back_by_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start reads the year's table from its file instead of the package (whose first
    country imports every country's module); a torn file is computed again."""
    from triage_desk.sla import holiday_tables

    first = holiday_tables.HolidayTables(tmp_path)
    days_off, working = first.year("LV", None, 2026)
    assert days_off == holiday_tables.package_year("LV", None, 2026)[0]
    assert {dt.date(2026, 11, 18), dt.date(2026, 5, 4), dt.date(2026, 6, 24)} <= days_off
    [kept] = tmp_path.glob("LV-all-2026-*.json")

    def no_package(*_args: object) -> None:
        raise AssertionError("the package was asked again")

    monkeypatch.setattr(holiday_tables, "package_year", no_package)
    again = holiday_tables.HolidayTables(tmp_path)  # the next process
    assert again.year("LV", None, 2026) == (days_off, working)
    calendar = BusinessCalendar.from_config(CalendarConfig(), holiday_tables=again)
    assert not calendar.is_business_day(dt.date(2026, 11, 18))
    assert calendar.is_business_day(dt.date(2026, 11, 19))

    monkeypatch.undo()
    kept.write_text('{"days_off": ["2026-11-1', encoding="utf-8")  # torn
    assert holiday_tables.HolidayTables(tmp_path).year("LV", None, 2026) == (days_off, working)
    assert kept.read_text(encoding="utf-8").endswith("]}")  # written whole again
