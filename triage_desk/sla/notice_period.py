"""How far ahead a planned change must be announced: whole business days in a calendar.

``business_days_later(calendar, now, 5)`` is the same wall-clock time on the fifth business
day after ``now``'s local date (weekends, holidays and days off skipped), so a notice at
Friday 10:00 before a Wednesday holiday may announce a change from the Monday after next
at 10:00 on: 4 business days and 23 hours is too soon, exactly 5 is enough.
"""

from __future__ import annotations

import datetime as dt

from triage_desk.sla.calendar import BusinessCalendar


def business_days_later(calendar: BusinessCalendar, now: dt.datetime, days: int) -> dt.datetime:
    """UTC instant at ``now``'s local wall time on the ``days``-th business day after
    ``now``'s local date (a wall time a DST change skips is read as its zone does)."""
    if days < 0:
        raise ValueError(f"business days must not be negative, got {days}")
    local = calendar.to_utc(now).astimezone(calendar.zone)
    day = local.date()
    for _ in range(days):
        day = calendar.next_business_day(day)
    wall = dt.datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=calendar.zone)
    return wall.astimezone(dt.UTC)


__all__ = ["business_days_later"]
