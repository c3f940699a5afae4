"""Business-hours calendar and due-time arithmetic: clock start, response and resolution due."""

from triage_desk.sla.calendar import BusinessCalendar
from triage_desk.sla.due import DueTimes, add_target, due_times, parse_instant

__all__ = ["BusinessCalendar", "DueTimes", "add_target", "due_times", "parse_instant"]
