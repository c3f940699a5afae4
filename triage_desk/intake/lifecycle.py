"""How a message moves a ticket's status besides opening it.

* Robot mail (auto-replies, mailing lists, bulk mail, bounces) that opens a ticket is kept,
  but set apart from the work queue: status ``robot``, no due times, never urgent. Staff see
  it with ``triage tickets --status robot``.
* A person's reply to a resolved ticket reopens it, as the resolution notice promises ("reply
  and we will look into it again"). The new message is a new request on the same ticket: its
  clock starts at the reply (the next opening, out of hours) and the category's response and
  resolution targets count from there; the first-response and resolution times are cleared
  for the new round. The ``reopened`` audit event keeps what they were, and the round's SLA
  legs are kept as they ended (``storage/sla_legs.py``): the resolution leg of a reopened
  ticket is a new leg with the new target, the old one stays met (or late) as it was.
* The first human reply is the response, wherever it comes from (the desk service's reply,
  a proven staff member's own mail or chat): ``record_first_response`` is the one place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from triage_desk.desks import Desk
from triage_desk.sla import DueTimes, due_times
from triage_desk.storage.models import Ticket, TicketStatus


def set_apart_as_robot(ticket: Ticket) -> DueTimes:
    """Robot mail is no request: out of the work queue, with no service-level target."""
    ticket.status = TicketStatus.ROBOT
    ticket.urgent = False
    ticket.clock_start = ticket.received_at
    ticket.response_due = ticket.resolution_due = None
    return DueTimes(ticket.received_at, None, None)


def reopen(ticket: Ticket, desk: Desk, received_at: dt.datetime) -> dict[str, Any]:
    """Reopen a resolved ticket for a reply received at ``received_at``; returns the audit
    details (the times the ticket had before, ISO-8601 UTC)."""
    before = {
        name: value.isoformat() if value else None
        for name, value in (
            ("resolved_at", ticket.resolved_at),
            ("first_response_at", ticket.first_response_at),
            ("clock_start", ticket.clock_start),
            ("response_due", ticket.response_due),
            ("resolution_due", ticket.resolution_due),
        )
    }
    rules = desk.config.categories.get(ticket.category)
    if rules is not None:  # a category since removed from the configuration keeps its times
        due = due_times(desk.calendar, rules, received_at)
        ticket.clock_start = due.clock_start
        ticket.response_due = due.response_due
        ticket.resolution_due = due.resolution_due
    ticket.status = TicketStatus.QUEUED if ticket.clock_start > received_at else TicketStatus.OPEN
    ticket.resolved_at = None
    ticket.first_response_at = None
    return before


def record_first_response(ticket: Ticket, at: dt.datetime) -> bool:
    """A human answered at ``at``: the first such answer is the response time. True when
    this was the first (the caller then writes the ticket's SLA legs)."""
    if ticket.first_response_at is not None:
        return False
    ticket.first_response_at = at
    return True
