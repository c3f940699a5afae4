"""SLA legs: the response and the resolution of a ticket, each with a due time and the
instant it was met, and the one rule for "late" that every query and report follows.

Pure: instants in, facts out; no configuration, no database (``storage/sla_legs.py`` keeps
the rows and writes the same rule in SQL).

* A leg is **late** when it was met after its due time, or is still unmet and its due time
  has passed: ``due < (done or now)``. Met exactly at the due time is on time (a due time
  is the earliest instant the target is used up, ``sla/calendar.py``).
* The **response** is met by the first human reply (``first_response_at``); a resolution
  without an earlier reply meets it too: the resolution notice is the first word a person
  gets from staff.
* The **resolution** is met when the ticket is resolved (``resolved_at``).
* A category without a target has no leg (no due: nothing can be late).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class Leg(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


@dataclass(frozen=True)
class LegTimes:
    """One leg as the ticket has it now."""

    leg: Leg
    due_at: dt.datetime
    done_at: dt.datetime | None

    def late(self, now: dt.datetime) -> bool:
        return is_late(self.due_at, self.done_at, now)

    def breached_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the leg failed (its due time) if it is late by ``now``; else None."""
        return self.due_at if self.late(now) else None

    @property
    def late_seconds(self) -> int | None:
        """How late it was met, in whole seconds; None while unmet or when met on time."""
        if self.done_at is None or self.done_at <= self.due_at:
            return None
        return int((self.done_at - self.due_at).total_seconds())


def is_late(due_at: dt.datetime, done_at: dt.datetime | None, now: dt.datetime) -> bool:
    """The rule: met after the due time, or unmet with the due time passed."""
    return due_at < (done_at if done_at is not None else now)


def leg_times(
    response_due: dt.datetime | None,
    resolution_due: dt.datetime | None,
    first_response_at: dt.datetime | None,
    resolved_at: dt.datetime | None,
) -> list[LegTimes]:
    """The legs a ticket's times give: one per target it has."""
    legs = []
    if response_due is not None:
        met = [t for t in (first_response_at, resolved_at) if t is not None]
        legs.append(LegTimes(Leg.RESPONSE, response_due, min(met) if met else None))
    if resolution_due is not None:
        legs.append(LegTimes(Leg.RESOLUTION, resolution_due, resolved_at))
    return legs
