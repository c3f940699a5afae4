"""Due times of a message: when its clock starts and when the response and resolution are due."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from triage_desk.sla.calendar import UTC, BusinessCalendar
from triage_desk.sla.targets import Target, Unit


class DueRules(Protocol):
    """A category's targets (``config.CategoryConfig`` is one; sla knows no config)."""

    @property
    def around_the_clock(self) -> bool: ...
    @property
    def response(self) -> Target | None: ...
    @property
    def resolution(self) -> Target | None: ...


@dataclass(frozen=True)
class DueTimes:
    """UTC-aware instants; ``None`` where the category has no target."""

    clock_start: dt.datetime
    response_due: dt.datetime | None
    resolution_due: dt.datetime | None

    def as_json(self, zone: ZoneInfo) -> dict[str, str | None]:
        """ISO-8601 with offset in ``zone``, whole seconds: "2026-11-30T10:30:00+02:00"."""
        return {
            "clock_start": _show(self.clock_start, zone),
            "response_due": _show(self.response_due, zone),
            "resolution_due": _show(self.resolution_due, zone),
        }


def _show(instant: dt.datetime | None, zone: ZoneInfo) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(zone).isoformat(timespec="seconds")


def add_months(calendar: BusinessCalendar, start: dt.datetime, months: int) -> dt.datetime:
    """Same local wall time ``months`` calendar months later, the day clamped to month end."""
    local = calendar.to_utc(start).astimezone(calendar.zone).replace(tzinfo=None)
    wall = local + relativedelta(months=months)
    # Rebuild in the zone rather than adding to an aware time, so DST shifts the UTC offset.
    return wall.replace(tzinfo=calendar.zone).astimezone(UTC)


def add_target(calendar: BusinessCalendar, start: dt.datetime, target: Target) -> dt.datetime:
    """``start`` plus one target, as a UTC-aware instant."""
    if target.amount < 0:
        raise ValueError(f"target {target} is negative")
    if target.unit is Unit.BUSINESS_HOURS:
        return calendar.add_business_hours(start, target.amount)
    if target.unit is Unit.BUSINESS_DAYS:
        return calendar.add_business_days(start, int(target.amount))
    if target.unit is Unit.MONTHS:
        return add_months(calendar, start, int(target.amount))
    if target.unit is Unit.HOURS:
        return calendar.to_utc(start) + dt.timedelta(hours=target.amount)
    raise ValueError(f"unknown target unit {target.unit!r}")


def due_times(calendar: BusinessCalendar, category: DueRules, received: dt.datetime) -> DueTimes:
    """Clock start and due times for a message of ``category`` received at ``received``.

    A naive ``received`` is local time in the desk's zone. Out of hours the clock starts at the
    next opening, unless the category runs around the clock (then it starts at receipt).
    """
    received_utc = calendar.to_utc(received)
    start = received_utc if category.around_the_clock else calendar.clock_start(received_utc)
    return DueTimes(
        clock_start=start,
        response_due=_due(calendar, start, category.response),
        resolution_due=_due(calendar, start, category.resolution),
    )


def _due(
    calendar: BusinessCalendar, start: dt.datetime, target: Target | None
) -> dt.datetime | None:
    return None if target is None else add_target(calendar, start, target)


def parse_instant(text: str, zone: ZoneInfo) -> dt.datetime:
    """Read an ISO-8601 instant; without an offset it is local time in ``zone``. Returns UTC.

    "Z" is accepted for UTC. A local time inside a DST gap maps forward (03:30 on the spring
    change reads as 04:30 summer time); an ambiguous one takes its first occurrence.
    """
    cleaned = text.strip() if isinstance(text, str) else text
    if not isinstance(cleaned, str) or not cleaned:
        raise ValueError(
            f"empty or non-text time {text!r}; write ISO-8601 such as "
            "'2026-11-30T10:30:00+02:00' or '2026-11-30T08:30:00Z'"
        )
    if cleaned[-1] in "zZ":  # Python 3.11 reads 'Z' but not a lowercase 'z'
        cleaned = cleaned[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}; write ISO-8601 such as '2026-11-30T10:30:00+02:00', "
            f"'2026-11-30T08:30:00Z', or '2026-11-30T10:30' for local time in {zone.key}"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)
