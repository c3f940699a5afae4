"""The SLA legs of tickets as rows (``models.SlaLeg``): written from the ticket's own times
at every change of them, so reports read facts instead of recomputing them.

Why a table and not more columns on ``tickets``: a reopened ticket is a new request with
new targets (``intake/lifecycle.py``) and clears its first-response and resolution times;
the legs of the round before are kept here as they ended, so a late answer stays late.
One row per ticket, leg and round also makes "late on response, late on resolution,
late on either" one GROUP BY, and a category without a target simply has no row.

Which tickets have legs: every ticket with a due time, except robot mail (no request) and
a refused one (no case until the refusal is withdrawn; then its legs are written).
"Late" is ``sla.legs.is_late``; ``late_condition`` is the same rule in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from triage_desk.sla.legs import LegTimes, leg_times
from triage_desk.storage.models import AuditEvent, SlaLeg, Ticket, TicketStatus

_NO_LEGS = (TicketStatus.ROBOT, TicketStatus.REFUSED)


def wanted(ticket: Ticket) -> list[LegTimes]:
    """The legs the ticket's current round should have, from its own times."""
    if ticket.status in _NO_LEGS:
        return []
    return leg_times(
        ticket.response_due, ticket.resolution_due, ticket.first_response_at, ticket.resolved_at
    )


def _facts(ticket: Ticket, times: LegTimes, now: dt.datetime) -> dict[str, Any]:
    return {
        "category": ticket.category,
        "due_at": times.due_at,
        "done_at": times.done_at,
        "breached_at": times.breached_at(now),
        "late_seconds": times.late_seconds,
        "updated_at": now,
    }


def insert_new(session: Session, tickets: Sequence[Ticket], now: dt.datetime) -> None:
    """The legs of tickets just inserted (intake's batch), in one statement."""
    rows = [
        {"ticket_id": t.id, "leg": times.leg.value, "round": 1, **_facts(t, times, now)}
        for t in tickets
        for times in wanted(t)
    ]
    if rows:
        session.execute(insert(SlaLeg.__table__), rows)


def sync(
    session: Session,
    tickets: Sequence[Ticket],
    now: dt.datetime,
    new_round: Collection[int] = (),
) -> None:
    """Bring the current round's legs of ``tickets`` in line with their times; for the
    ticket ids in ``new_round`` (just reopened) start a round instead, keeping the last."""
    if not tickets:
        return
    existing: dict[int, list[SlaLeg]] = {}
    for row in session.scalars(select(SlaLeg).where(SlaLeg.ticket_id.in_([t.id for t in tickets]))):
        existing.setdefault(row.ticket_id, []).append(row)
    for ticket in tickets:
        rows = existing.get(ticket.id, [])
        current = max((r.round for r in rows), default=1)
        if rows and ticket.id in new_round:
            current += 1
        mine = {r.leg: r for r in rows if r.round == current}
        for times in wanted(ticket):
            facts = _facts(ticket, times, now)
            row = mine.pop(times.leg.value, None)
            if row is None:
                session.add(SlaLeg(ticket_id=ticket.id, leg=times.leg, round=current, **facts))
            else:
                for name, value in facts.items():
                    setattr(row, name, value)
        for row in mine.values():  # a target the ticket no longer has (recategorised)
            session.delete(row)
    session.flush()


def late_condition(now: dt.datetime) -> ColumnElement[bool]:
    """``sla.legs.is_late`` in SQL: met after the due time, or unmet and the due passed."""
    return or_(
        SlaLeg.done_at > SlaLeg.due_at,
        and_(SlaLeg.done_at.is_(None), SlaLeg.due_at < now),
    )


def mark_breaches(session: Session, now: dt.datetime, lock: bool = True) -> list[SlaLeg]:
    """Record every unmet leg whose due time has passed as breached, once, with an
    ``sla_breached`` audit event; the legs marked. The report needs no such run (it applies
    ``late_condition`` at its own "now"); this keeps the fact in the row for anyone else."""
    query = select(SlaLeg).where(
        SlaLeg.done_at.is_(None), SlaLeg.breached_at.is_(None), SlaLeg.due_at < now
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    legs = list(session.scalars(query.order_by(SlaLeg.due_at, SlaLeg.id)))
    if not legs:
        return []
    table = SlaLeg.__table__
    session.execute(
        update(table)
        .where(table.c.id.in_([leg.id for leg in legs]))
        .values(breached_at=table.c.due_at, updated_at=now)
    )
    session.execute(
        insert(AuditEvent.__table__),
        [
            {
                "at": now,
                "actor": "scheduler",
                "action": "sla_breached",
                "ticket_id": leg.ticket_id,
                "details": {"leg": leg.leg, "round": leg.round, "due": leg.due_at.isoformat()},
            }
            for leg in legs
        ],
    )
    for leg in legs:
        session.refresh(leg)
    return legs
