"""The scheduler: releases out-of-hours tickets into the work queue when their desk opens,
and records SLA legs whose due time passed unmet as breached (``storage/sla_legs.py``), so
a ticket nobody touches is marked late too.

All state is in the database (status ``queued`` and the computed clock start), so a restart
loses nothing: the next run releases whatever is due. It is a runner (``runners/``) whose
claim and commit are one short transaction: it locks the due tickets first (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; on SQLite ``BEGIN IMMEDIATE``, the database's one write lock),
so two processes never release, or audit, the same ticket twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import system_clock
from triage_desk.desks import Desks
from triage_desk.storage import repositories as repo
from triage_desk.storage import sla_legs
from triage_desk.storage.db import take_write_lock
from triage_desk.storage.models import Ticket, TicketStatus


@dataclass(frozen=True)
class Released:
    number: str
    category: str
    received_at: dt.datetime


class Scheduler:
    """The runner: ``release_due_tickets`` every ``idle_seconds``."""

    name = "scheduler"

    def __init__(
        self, sessions: sessionmaker[Session], desks: Desks, idle_seconds: float = 30.0
    ) -> None:
        self.sessions = sessions
        self.desks = desks
        self.idle_seconds = idle_seconds

    def run_once(self, now: dt.datetime) -> int:
        released = release_due_tickets(self.sessions, self.desks, now)
        return len(released) + len(mark_breached_legs(self.sessions, now))


def release_due_tickets(
    sessions: sessionmaker[Session], desks: Desks, now: dt.datetime | None = None
) -> list[Released]:
    """Open every queued ticket whose clock has started: most urgent category, then oldest."""
    now = now or system_clock()
    with sessions.begin() as session:
        # Claim: lock the due tickets; another scheduler skips them (PostgreSQL) or waits
        # for this commit (SQLite), and then finds them open.
        take_write_lock(session)
        tickets = repo.queued_tickets_due(session, now, lock=True)

        # Work: the order staff meet them in.
        def priority(ticket: Ticket) -> tuple[int, dt.datetime, int]:
            desk = desks.by_name.get(ticket.desk)
            rules = desk.config.categories.get(ticket.category) if desk else None
            return (rules.priority if rules else 1000, ticket.received_at, ticket.id)

        # Commit: open and audit each once, with the lock still held.
        released = []
        for ticket in sorted(tickets, key=priority):
            ticket.status = TicketStatus.OPEN
            repo.audit(
                session, "scheduler", "released_from_queue", ticket, position=len(released) + 1
            )
            released.append(Released(ticket.number, ticket.category, ticket.received_at))
        return released


@dataclass(frozen=True)
class Breached:
    ticket_id: int
    leg: str
    due_at: dt.datetime


def mark_breached_legs(sessions: sessionmaker[Session], now: dt.datetime) -> list[Breached]:
    """Mark every unmet leg whose due time has passed, each once (locked like the release)."""
    with sessions.begin() as session:
        take_write_lock(session)
        legs = sla_legs.mark_breaches(session, now)
        return [Breached(leg.ticket_id, leg.leg, leg.due_at) for leg in legs]
