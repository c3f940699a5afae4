"""A desk's business-hours calendar: which days are worked, when it opens, and time arithmetic.

Business hours are the half-open interval [open, close) in the desk's zone on business days.
Every instant returned is UTC-aware, except ``opening_hours`` which shows the desk's wall
clock. Local wall times are always built with the zone and then converted, so DST changes
(Europe/Riga: last Sundays of March and October) never shift an opening or a closing.

A naive datetime given to any method is read as local time in the desk's zone, the same rule
as ``parse_instant``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from triage_desk.sla.holiday_tables import IN_MEMORY, HolidayTables

UTC = dt.UTC
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar with no business day this far ahead is misconfigured; stop instead of spinning.
_MAX_SEARCH_DAYS = 3700

Hours = tuple[dt.datetime, dt.datetime]


# What a calendar is built from, as shapes rather than the config's classes: sla sits below
# the configuration (config imports sla.targets) and knows nothing of its file format.
class ShortenedDaySettings(Protocol):
    @property
    def date(self) -> dt.date: ...
    @property
    def close(self) -> dt.time: ...


class CalendarSettings(Protocol):
    """A desk's days and hours (``config.CalendarConfig`` is one)."""

    @property
    def zone(self) -> str: ...
    @property
    def workdays(self) -> Sequence[str]: ...
    @property
    def open(self) -> dt.time: ...
    @property
    def close(self) -> dt.time: ...
    @property
    def holidays_country(self) -> str | None: ...
    @property
    def holidays_subdivision(self) -> str | None: ...
    @property
    def extra_working_days(self) -> Sequence[dt.date]: ...
    @property
    def extra_days_off(self) -> Sequence[dt.date]: ...
    @property
    def shortened_days(self) -> Sequence[ShortenedDaySettings]: ...


def _aware_utc(instant: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        instant = instant.replace(tzinfo=zone)
    return instant.astimezone(UTC)


def _wall_to_utc(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    # fold=0: a wall time inside a DST gap maps forward, an ambiguous one to its first instance.
    return dt.datetime.combine(day, time.replace(tzinfo=None), tzinfo=zone).astimezone(UTC)


@dataclass(eq=False)
class BusinessCalendar:
    """Business days and hours of one desk, with cached per-day lookups (it runs per message)."""

    zone: ZoneInfo
    workdays: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday = 0
    open: dt.time = dt.time(9, 0)
    close: dt.time = dt.time(17, 0)
    holidays_country: str | None = "LV"
    holidays_subdivision: str | None = None
    extra_working_days: frozenset[dt.date] = frozenset()
    extra_days_off: frozenset[dt.date] = frozenset()
    shortened_days: dict[dt.date, dt.time] = field(default_factory=dict)
    holiday_tables: HolidayTables = field(default=IN_MEMORY, repr=False)
    _business: dict[dt.date, bool] = field(default_factory=dict, init=False, repr=False)
    _hours: dict[dt.date, Hours | None] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.open >= self.close:
            raise ValueError(f"open {self.open:%H:%M} is not before close {self.close:%H:%M}")

    @classmethod
    def from_config(
        cls, cfg: CalendarSettings, holiday_tables: HolidayTables = IN_MEMORY
    ) -> BusinessCalendar:
        """``holiday_tables``: where the package's holidays are kept between processes."""
        return cls(
            zone=ZoneInfo(cfg.zone),
            workdays=frozenset(_WEEKDAYS.index(d) for d in cfg.workdays),
            open=cfg.open,
            close=cfg.close,
            holidays_country=cfg.holidays_country,
            holidays_subdivision=cfg.holidays_subdivision,
            extra_working_days=frozenset(cfg.extra_working_days),
            extra_days_off=frozenset(cfg.extra_days_off),
            shortened_days={s.date: s.close for s in cfg.shortened_days},
            holiday_tables=holiday_tables,
        )

    # -- days -----------------------------------------------------------------------------

    def is_business_day(self, day: dt.date) -> bool:
        cached = self._business.get(day)
        if cached is None:
            cached = self._business[day] = self._compute_business_day(day)
        return cached

    def _compute_business_day(self, day: dt.date) -> bool:
        # Order matters: package holidays, then package working Saturdays, then explicit config.
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off:
            return False
        if self.holidays_country:
            days_off, weekend_workdays = self.holiday_tables.year(
                self.holidays_country, self.holidays_subdivision, day.year
            )
            if day in weekend_workdays:
                return True
            if day in days_off:
                return False
        return day.weekday() in self.workdays

    def next_business_day(self, day: dt.date) -> dt.date:
        """The first business day strictly after ``day``."""
        for _ in range(_MAX_SEARCH_DAYS):
            day += dt.timedelta(days=1)
            if self.is_business_day(day):
                return day
        raise ValueError(
            f"no business day within {_MAX_SEARCH_DAYS} days after {day}; "
            "check the calendar's workdays and extra_working_days"
        )

    # -- hours ----------------------------------------------------------------------------

    def _utc_hours(self, day: dt.date) -> Hours | None:
        if day in self._hours:
            return self._hours[day]
        hours: Hours | None = None
        if self.is_business_day(day):
            # open < close as wall times, and fold=0 keeps that order in UTC even on DST days.
            close = self.shortened_days.get(day, self.close)
            hours = (_wall_to_utc(day, self.open, self.zone), _wall_to_utc(day, close, self.zone))
        self._hours[day] = hours
        return hours

    def opening_hours(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """(open, close) of ``day`` as aware datetimes in the desk's zone; None on a day off."""
        hours = self._utc_hours(day)
        if hours is None:
            return None
        return hours[0].astimezone(self.zone), hours[1].astimezone(self.zone)

    def _local_date(self, instant_utc: dt.datetime) -> dt.date:
        return instant_utc.astimezone(self.zone).date()

    def to_utc(self, instant: dt.datetime) -> dt.datetime:
        """``instant`` as UTC-aware; a naive value is local time in the desk's zone."""
        return _aware_utc(instant, self.zone)

    def is_open(self, instant: dt.datetime) -> bool:
        now = self.to_utc(instant)
        hours = self._utc_hours(self._local_date(now))
        return hours is not None and hours[0] <= now < hours[1]

    def next_opening(self, instant: dt.datetime) -> dt.datetime:
        """``instant`` itself (in UTC) if the desk is open then, else the next opening."""
        now = self.to_utc(instant)
        day = self._local_date(now)
        hours = self._utc_hours(day)
        if hours is not None and now < hours[1]:
            return max(now, hours[0])
        return self._require_hours(self.next_business_day(day))[0]

    def clock_start(self, received: dt.datetime) -> dt.datetime:
        """Clause 26: a message received out of hours counts as received at the next opening."""
        return self.next_opening(received)

    def _require_hours(self, day: dt.date) -> Hours:
        hours = self._utc_hours(day)
        assert hours is not None, f"{day} is a business day, so it has hours"
        return hours

    # -- arithmetic -----------------------------------------------------------------------

    def add_business_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The earliest instant at which ``hours`` business hours have elapsed since ``start``.

        The result may be a closing time (15:00 + 2 h on a 9–17 desk is 17:00 that day).
        Zero hours gives ``start`` itself. Walks day by day, never hour by hour.
        """
        if hours < 0:
            raise ValueError(f"business hours must not be negative, got {hours}")
        return self.add_business_time(start, dt.timedelta(hours=hours))

    def add_business_time(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        """Like ``add_business_hours`` with an exact timedelta (microsecond resolution)."""
        if amount < dt.timedelta(0):
            raise ValueError(f"business time must not be negative, got {amount}")
        now = self.to_utc(start)
        if not amount:
            return now
        remaining = amount
        day = self._local_date(now)
        while True:
            hours = self._utc_hours(day)
            if hours is not None and now < hours[1]:
                now = max(now, hours[0])
                available = hours[1] - now  # both UTC: real elapsed time, DST-proof
                if remaining <= available:
                    return now + remaining
                remaining -= available
            day = self.next_business_day(day)

    def add_business_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """Close of the ``days``-th business day after the day on which the clock starts.

        The clock-start day is the business day whose hours contain ``start`` or end exactly at
        it (so a chain of day targets continues from a close); before opening it is that day;
        after closing or on a day off it is the next business day. 0 days = close of that day.
        """
        if days < 0 or days != int(days):
            raise ValueError(f"business days must be a whole number ≥ 0, got {days}")
        now = self.to_utc(start)
        day = self._local_date(now)
        hours = self._utc_hours(day)
        if hours is None or now > hours[1]:
            day = self.next_business_day(day)
        for _ in range(int(days)):
            day = self.next_business_day(day)
        return self._require_hours(day)[1]
