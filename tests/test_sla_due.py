"""Due times per category, target arithmetic, JSON shape and instant parsing.

Expected values are worked out by hand (comments show how); both seed desks come from
config.example.toml. Riga: UTC+2 in winter, UTC+3 from 29 March to 25 October 2026.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from triage_desk.config import CalendarConfig, CategoryConfig, load_config
from triage_desk.sla import BusinessCalendar, DueTimes, add_target, due_times, parse_instant
from triage_desk.sla.targets import Target, Unit, parse_target

RIGA = ZoneInfo("Europe/Riga")
UTC = dt.UTC
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.example.toml")
MUN = CONFIG.desks["municipal"]
EPA = CONFIG.desks["eparaksts"]


def L(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, s, tzinfo=RIGA)


def U(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=UTC)


@pytest.fixture(scope="module")
def mun() -> BusinessCalendar:
    return BusinessCalendar.from_config(MUN.calendar)


@pytest.fixture(scope="module")
def epa() -> BusinessCalendar:
    return BusinessCalendar.from_config(EPA.calendar)


def shown(times: DueTimes) -> dict[str, str | None]:
    return times.as_json(RIGA)


# -- municipal desk -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "received", "expected"),
    [
        # Friday 16:30 emergency: response 0.5 h Fri + 1.5 h Mon; resolution 16 bh =
        # 0.5 Fri + 8 Mon + 7.5 Tue → Tue 16:30.
        (
            "emergency",
            L(2026, 11, 27, 16, 30),
            ("2026-11-27T16:30:00+02:00", "2026-11-30T10:30:00+02:00", "2026-12-01T16:30:00+02:00"),
        ),
        # Friday evening serious error: clock Mon 9:00; 2 bh → 11:00; 40 bh → Fri 17:00.
        (
            "serious_error",
            L(2026, 11, 27, 20, 15),
            ("2026-11-30T09:00:00+02:00", "2026-11-30T11:00:00+02:00", "2026-12-04T17:00:00+02:00"),
        ),
        # Exactly at close is out of hours: clock at the next opening.
        (
            "emergency",
            L(2026, 11, 27, 17),
            ("2026-11-30T09:00:00+02:00", "2026-11-30T11:00:00+02:00", "2026-12-01T17:00:00+02:00"),
        ),
        # Exactly at open: that instant.
        (
            "emergency",
            L(2026, 11, 30, 9),
            ("2026-11-30T09:00:00+02:00", "2026-11-30T11:00:00+02:00", "2026-12-01T17:00:00+02:00"),
        ),
        # Saturday before the spring change (+02) → Monday 9:00 summer time (+03);
        # 16 bh = two full days → Tue 17:00+03.
        (
            "emergency",
            L(2026, 3, 28, 11),
            ("2026-03-30T09:00:00+03:00", "2026-03-30T11:00:00+03:00", "2026-03-31T17:00:00+03:00"),
        ),
        # Sunday of the autumn change (10:00+02) → Monday 9:00+02.
        (
            "emergency",
            L(2026, 10, 25, 10),
            ("2026-10-26T09:00:00+02:00", "2026-10-26T11:00:00+02:00", "2026-10-27T17:00:00+02:00"),
        ),
        # Saturday before the autumn change is still summer time; Monday is winter time.
        (
            "serious_error",
            L(2026, 10, 24, 23, 59),
            ("2026-10-26T09:00:00+02:00", "2026-10-26T11:00:00+02:00", "2026-10-30T17:00:00+02:00"),
        ),
        # Error on Monday 31 Aug 10:00+03: 8 bh → Tue 10:00; 6 months → 28 Feb 2027
        # 10:00 local, which is +02 (08:00Z), not 10:00+03.
        (
            "error",
            L(2026, 8, 31, 10),
            ("2026-08-31T10:00:00+03:00", "2026-09-01T10:00:00+03:00", "2027-02-28T10:00:00+02:00"),
        ),
        # Inaccuracy on Mon 30 Nov 2026 14:00: 8 bh = 3 h Mon + 5 h Tue → Tue 14:00;
        # 6 months → Sun 30 May 2027 14:00+03 (calendar months ignore business days).
        (
            "inaccuracy",
            L(2026, 11, 30, 14),
            ("2026-11-30T14:00:00+02:00", "2026-12-01T14:00:00+02:00", "2027-05-30T14:00:00+03:00"),
        ),
        # Data processing has no resolution target.
        (
            "data_processing",
            L(2026, 11, 30, 14),
            ("2026-11-30T14:00:00+02:00", "2026-12-01T14:00:00+02:00", None),
        ),
        # Consultation on Tue 22 Dec 10:00: 8 bh = 7 h Tue + 1 h Wed → Wed 10:00;
        # 5 business days: 23, [24–27 off], 28, 29, 30, [31, 1 Jan, weekend], Mon 4 Jan.
        (
            "consultation",
            L(2026, 12, 22, 10),
            ("2026-12-22T10:00:00+02:00", "2026-12-23T10:00:00+02:00", "2027-01-04T17:00:00+02:00"),
        ),
        # Consultation on Christmas Eve: clock Mon 28 Dec 9:00; 8 bh → 17:00 the same day;
        # 5 business days: 29, 30, 4 Jan, 5 Jan, 6 Jan (6 Jan 2027 is a Wednesday).
        (
            "consultation",
            L(2026, 12, 24, 11),
            ("2026-12-28T09:00:00+02:00", "2026-12-28T17:00:00+02:00", "2027-01-06T17:00:00+02:00"),
        ),
        # Good Friday: clock Tue 7 Apr 9:00+03; 16 bh → Wed 8 Apr 17:00.
        (
            "emergency",
            L(2026, 4, 3, 10),
            ("2026-04-07T09:00:00+03:00", "2026-04-07T11:00:00+03:00", "2026-04-08T17:00:00+03:00"),
        ),
        # 1 Jan 2026 (holiday), 2 Jan substituted off: clock Mon 5 Jan.
        (
            "emergency",
            L(2026, 1, 1, 12),
            ("2026-01-05T09:00:00+02:00", "2026-01-05T11:00:00+02:00", "2026-01-06T17:00:00+02:00"),
        ),
        # Friday 16 Jan 16:00: 1 h Fri, then the working Saturday 17 Jan: 2 bh → Sat 10:00;
        # 16 bh → 1 + Sat 8 + Mon 19 Jan 7 → Mon 16:00.
        (
            "emergency",
            L(2026, 1, 16, 16),
            ("2026-01-16T16:00:00+02:00", "2026-01-17T10:00:00+02:00", "2026-01-19T16:00:00+02:00"),
        ),
        # Feedback only: no targets, the clock start is still reported.
        ("feedback", L(2026, 11, 28, 12), ("2026-11-30T09:00:00+02:00", None, None)),
    ],
)
def test_municipal_due_times(
    mun: BusinessCalendar,
    category: str,
    received: dt.datetime,
    expected: tuple[str, str | None, str | None],
) -> None:
    times = due_times(mun, MUN.categories[category], received)
    assert shown(times) == dict(
        zip(("clock_start", "response_due", "resolution_due"), expected, strict=True)
    )
    for instant in (times.clock_start, times.response_due, times.resolution_due):
        assert instant is None or instant.tzinfo is UTC


# -- eParaksts desk -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "received", "expected"),
    [
        # Application at 17:30 on Friday: inside 9–18, so 1 working day → Mon 18:00.
        (
            "application",
            L(2026, 11, 27, 17, 30),
            ("2026-11-27T17:30:00+02:00", "2026-11-30T18:00:00+02:00", "2026-11-30T18:00:00+02:00"),
        ),
        # Exactly 18:00 Friday is outside hours: processing starts Mon 9:00 → Tue 18:00.
        (
            "application",
            L(2026, 11, 27, 18),
            ("2026-11-30T09:00:00+02:00", "2026-12-01T18:00:00+02:00", "2026-12-01T18:00:00+02:00"),
        ),
        # Application on Mon 10:00 → Tue 18:00.
        (
            "application",
            L(2026, 11, 30, 10),
            ("2026-11-30T10:00:00+02:00", "2026-12-01T18:00:00+02:00", "2026-12-01T18:00:00+02:00"),
        ),
        # Feedback on Wed 23 Dec 12:00 → next working day after Christmas: Mon 28 Dec 18:00.
        (
            "feedback",
            L(2026, 12, 23, 12),
            ("2026-12-23T12:00:00+02:00", "2026-12-28T18:00:00+02:00", "2026-12-28T18:00:00+02:00"),
        ),
        # Suspension is 24/7: clock at receipt, due at once, even 03:00 on a Sunday.
        (
            "suspension",
            L(2026, 11, 29, 3),
            ("2026-11-29T03:00:00+02:00", "2026-11-29T03:00:00+02:00", None),
        ),
        # 03:00 on the autumn-change Sunday happens twice; the first one is +03 ...
        (
            "suspension",
            dt.datetime(2026, 10, 25, 3, tzinfo=RIGA),
            ("2026-10-25T03:00:00+03:00", "2026-10-25T03:00:00+03:00", None),
        ),
        # ... and the second, an hour later in real time, is +02.
        (
            "suspension",
            dt.datetime(2026, 10, 25, 3, fold=1, tzinfo=RIGA),
            ("2026-10-25T03:00:00+02:00", "2026-10-25T03:00:00+02:00", None),
        ),
        # On the spring-change Sunday 03:00 does not exist: 01:00Z is shown as 04:00+03.
        (
            "suspension",
            U(2026, 3, 29, 1),
            ("2026-03-29T04:00:00+03:00", "2026-03-29T04:00:00+03:00", None),
        ),
    ],
)
def test_eparaksts_due_times(
    epa: BusinessCalendar,
    category: str,
    received: dt.datetime,
    expected: tuple[str, str | None, str | None],
) -> None:
    times = due_times(epa, EPA.categories[category], received)
    assert shown(times) == dict(
        zip(("clock_start", "response_due", "resolution_due"), expected, strict=True)
    )


def test_around_the_clock_with_business_hour_target(mun: BusinessCalendar) -> None:
    # Clock at receipt (Sat 03:00), but a business-hours target still runs in hours only.
    category = CategoryConfig(
        labels={"lv": "x", "en": "x", "ru": "x"},
        response="2 business_hours",
        resolution="24 hours",
        around_the_clock=True,
    )
    times = due_times(mun, category, L(2026, 11, 28, 3))
    assert times.clock_start == L(2026, 11, 28, 3)
    assert times.response_due == L(2026, 11, 30, 11)
    assert times.resolution_due == L(2026, 11, 29, 3)


def test_naive_and_offset_received_agree(mun: BusinessCalendar) -> None:
    category = MUN.categories["emergency"]
    naive = due_times(mun, category, dt.datetime(2026, 11, 27, 16, 30))  # Riga wall time
    offset = due_times(mun, category, dt.datetime.fromisoformat("2026-11-27T16:30:00+02:00"))
    utc = due_times(mun, category, U(2026, 11, 27, 14, 30))
    parsed = due_times(mun, category, parse_instant("2026-11-27T16:30", RIGA))
    assert naive == offset == utc == parsed
    assert naive.response_due == U(2026, 11, 30, 8, 30)
    # The same wall time written with a UTC offset is a different instant: 16:30Z = 18:30 Riga.
    other = due_times(mun, category, parse_instant("2026-11-27T16:30:00Z", RIGA))
    assert other.clock_start == L(2026, 11, 30, 9)


def test_due_times_is_frozen_and_utc(mun: BusinessCalendar) -> None:
    times = due_times(mun, MUN.categories["emergency"], L(2026, 11, 30, 10))
    with pytest.raises(dataclasses.FrozenInstanceError):
        times.clock_start = U(2026, 1, 1)  # type: ignore[misc]
    assert times.clock_start.tzinfo is UTC


# -- add_target ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target", "expected"),
    [
        (L(2026, 11, 27, 16, 30), "2 business_hours", L(2026, 11, 30, 10, 30)),
        (L(2026, 11, 30, 15), "2 bh", L(2026, 11, 30, 17)),
        (L(2026, 11, 30, 10), "1 working_day", L(2026, 12, 1, 17)),
        (L(2026, 11, 30, 10), "0 business_days", L(2026, 11, 30, 17)),
        (L(2026, 11, 27, 16, 30), "5 business_days", L(2026, 12, 4, 17)),
        # Months keep the local wall time and clamp the day to the month's end.
        (L(2026, 8, 31, 10), "6 months", L(2027, 2, 28, 10)),
        (L(2027, 8, 31, 10), "6 months", L(2028, 2, 29, 10)),  # leap year
        (L(2027, 1, 31, 10), "1 month", L(2027, 2, 28, 10)),
        (L(2026, 3, 27, 10), "1 month", U(2026, 4, 27, 7)),  # +02 → +03: 10:00 local kept
        (L(2026, 10, 23, 10), "1 month", U(2026, 11, 23, 8)),  # +03 → +02
        (L(2026, 8, 31, 10), "0 months", L(2026, 8, 31, 10)),
        # Elapsed hours are real time: 24 h from Sat 12:00+02 over the spring change is
        # Sun 13:00+03 on the wall clock.
        (L(2026, 3, 28, 12), "24 hours", L(2026, 3, 29, 13)),
        (L(2026, 10, 24, 12), "24 hours", L(2026, 10, 25, 11)),  # autumn: 11:00+02
        (L(2026, 11, 29, 3), "0 hours", L(2026, 11, 29, 3)),
        (L(2026, 11, 29, 3), "1.5 hours", L(2026, 11, 29, 4, 30)),
    ],
)
def test_add_target(
    mun: BusinessCalendar, start: dt.datetime, target: str, expected: dt.datetime
) -> None:
    due = add_target(mun, start, parse_target(target))
    assert due == expected
    assert due.tzinfo is UTC


def test_add_target_rejects_negative(mun: BusinessCalendar) -> None:
    with pytest.raises(ValueError):
        add_target(mun, L(2026, 11, 30, 10), Target(-1, Unit.HOURS))


def test_months_are_not_monotonic_because_of_clamping(mun: BusinessCalendar) -> None:
    # A documented consequence of "same wall time, day clamped": Fri 28 Aug 16:00 and
    # Mon 31 Aug 09:00 both land on 28 Feb, the later message with the earlier due time.
    error = MUN.categories["error"]
    early = due_times(mun, error, L(2026, 8, 28, 16))
    late = due_times(mun, error, L(2026, 8, 31, 9))
    assert early.resolution_due == L(2027, 2, 28, 16)
    assert late.resolution_due == L(2027, 2, 28, 9)


# -- desks built from hand-made config ----------------------------------------------------


def test_hand_made_calendar_with_exceptions() -> None:
    cal = BusinessCalendar.from_config(
        CalendarConfig(
            zone="Europe/Riga",
            open="08:30",  # type: ignore[arg-type]  # the validator reads strings
            close="16:30",  # type: ignore[arg-type]
            extra_days_off=[dt.date(2026, 11, 30)],
            extra_working_days=[dt.date(2026, 11, 28)],
            shortened_days=[{"date": dt.date(2026, 11, 28), "close": "12:30"}],  # type: ignore[list-item]
        )
    )
    emergency = MUN.categories["emergency"]
    # Fri 27 Nov 16:00: 0.5 h Fri, extra working Sat 28 Nov 8:30–12:30 (4 h, shortened),
    # Mon 30 Nov off, Tue 1 Dec: response (2 h) → Sat 10:00;
    # resolution 16 h → 0.5 + 4 + Tue 8 (12.5) + Wed 3.5 → Wed 2 Dec 12:00.
    times = due_times(cal, emergency, L(2026, 11, 27, 16))
    assert times.response_due == L(2026, 11, 28, 10)
    assert times.resolution_due == L(2026, 12, 2, 12)
    # Received on the shortened Saturday after its close → Tue 1 Dec 8:30.
    assert due_times(cal, emergency, L(2026, 11, 28, 12, 30)).clock_start == L(2026, 12, 1, 8, 30)


# -- JSON shape ---------------------------------------------------------------------------


def test_as_json_shape_and_precision() -> None:
    times = DueTimes(
        clock_start=U(2026, 11, 30, 8, 30) + dt.timedelta(microseconds=999_999),
        response_due=U(2026, 7, 1, 7, 30),
        resolution_due=None,
    )
    assert times.as_json(RIGA) == {
        "clock_start": "2026-11-30T10:30:00+02:00",  # whole seconds
        "response_due": "2026-07-01T10:30:00+03:00",  # summer offset
        "resolution_due": None,
    }
    assert times.as_json(ZoneInfo("UTC"))["clock_start"] == "2026-11-30T08:30:00+00:00"


# -- parse_instant ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30T10:30:00+02:00", U(2026, 11, 30, 8, 30)),
        ("2026-11-30T08:30:00Z", U(2026, 11, 30, 8, 30)),
        ("2026-11-30T08:30:00z", U(2026, 11, 30, 8, 30)),
        ("2026-11-30T10:30", U(2026, 11, 30, 8, 30)),  # no offset: Riga winter time
        ("2026-07-01T10:30:00", U(2026, 7, 1, 7, 30)),  # no offset: Riga summer time
        (" 2026-11-30 10:30:00 ", U(2026, 11, 30, 8, 30)),  # space separator, padding
        ("2026-11-30T14:00:00+05:30", U(2026, 11, 30, 8, 30)),
        ("2026-11-30T10:30:00.250+02:00", U(2026, 11, 30, 8, 30) + dt.timedelta(milliseconds=250)),
        ("2026-11-30", U(2026, 11, 29, 22)),  # a date alone is local midnight
        ("2026-10-25T03:30", U(2026, 10, 25, 0, 30)),  # ambiguous: first occurrence (+03)
        ("2026-03-29T03:30", U(2026, 3, 29, 1, 30)),  # in the gap: read as 04:30+03
    ],
)
def test_parse_instant(text: str, expected: dt.datetime) -> None:
    value = parse_instant(text, RIGA)
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "   ", "yesterday", "2026-02-30T10:00", "30.11.2026 10:30"])
def test_parse_instant_errors(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_instant(text, RIGA)


def test_parse_instant_round_trips_as_json(mun: BusinessCalendar) -> None:
    times = due_times(mun, MUN.categories["error"], L(2026, 8, 31, 10))
    for key, text in times.as_json(RIGA).items():
        assert text is not None
        assert parse_instant(text, RIGA) == getattr(times, key)
