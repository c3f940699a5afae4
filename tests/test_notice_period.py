"""``sla.notice_period.business_days_later``: the five-business-day notice of terms clause
23, worked out by hand on the municipal desk's calendar (Latvian holidays, Mon-Fri)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from triage_desk.config import load_config
from triage_desk.sla import BusinessCalendar
from triage_desk.sla.notice_period import business_days_later

RIGA = ZoneInfo("Europe/Riga")
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.example.toml")
CALENDAR = BusinessCalendar.from_config(CONFIG.desks["municipal"].calendar)


def riga(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=RIGA)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Mon 30 Nov: Tue 1 .. Fri 4, Mon 7 December.
        (riga(2026, 11, 30, 10, 0), riga(2026, 12, 7, 10, 0)),
        # Fri 13 Nov: Mon 16, Tue 17, (Wed 18 Proclamation Day) Thu 19, Fri 20, Mon 23.
        (riga(2026, 11, 13, 10, 0), riga(2026, 11, 23, 10, 0)),
        # Saturday counts from the days after it: Mon 16 .. Fri 20 (18 skipped) is Mon 23.
        (riga(2026, 11, 14, 23, 30), riga(2026, 11, 23, 23, 30)),
        # Across the end of summer time (25 October): the same wall time, an hour later in UTC.
        (riga(2026, 10, 23, 9, 15), riga(2026, 10, 30, 9, 15)),
    ],
)
def test_the_same_wall_time_on_the_fifth_business_day(now, expected):
    found = business_days_later(CALENDAR, now.astimezone(dt.UTC), 5)
    assert found == expected and found.tzinfo == dt.UTC


def test_summer_time_is_kept_as_wall_time():
    found = business_days_later(CALENDAR, riga(2026, 10, 23, 9, 15), 5)
    assert found == dt.datetime(2026, 10, 30, 7, 15, tzinfo=dt.UTC)  # UTC+2 after 25 Oct


def test_zero_days_is_now_and_negative_is_refused():
    now = riga(2026, 11, 30, 10, 0)
    assert business_days_later(CALENDAR, now, 0) == now
    with pytest.raises(ValueError, match="negative"):
        business_days_later(CALENDAR, now, -1)
