"""The scheduler: releases out-of-hours tickets into the work queue when their desk opens.

All state is in the database (status ``queued`` and the computed clock start), so a restart
loses nothing: the next run releases whatever is due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import system_clock
from triage_desk.desks import Desks
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import TicketStatus


@dataclass(frozen=True)
class Released:
    number: str
    category: str
    received_at: dt.datetime


def release_queued(
    sessions: sessionmaker[Session], desks: Desks, now: dt.datetime | None = None
) -> list[Released]:
    """Open every queued ticket whose clock has started: most urgent category, then oldest."""
    now = now or system_clock()
    with sessions.begin() as session:
        tickets = repo.release_queued(session, now)

        def priority(ticket) -> tuple[int, dt.datetime, int]:  # type: ignore[no-untyped-def]
            desk = desks.by_name.get(ticket.desk)
            rules = desk.config.categories.get(ticket.category) if desk else None
            return (rules.priority if rules else 1000, ticket.received_at, ticket.id)

        released = []
        for ticket in sorted(tickets, key=priority):
            ticket.status = TicketStatus.OPEN
            repo.audit(
                session, "scheduler", "released_from_queue", ticket, position=len(released) + 1
            )
            released.append(Released(ticket.number, ticket.category, ticket.received_at))
        return released
