"""Business-hours calendar and due-time arithmetic: clock start, response and resolution due."""

from triage_desk.sla.calendar import BusinessCalendar
from triage_desk.sla.due import DueTimes, add_target, due_times, parse_instant
from triage_desk.sla.legs import Leg, LegTimes, is_late, leg_times

__all__ = [
    "BusinessCalendar",
    "DueTimes",
    "Leg",
    "LegTimes",
    "add_target",
    "due_times",
    "is_late",
    "leg_times",
    "parse_instant",
]
