"""The dispatcher: drains the outbox, with retries, backoff and a dead-letter state.

An item is marked sent only after its transport returned; a crash in between may resend that
one item (at-least-once), and nothing pending is ever lost because it lives in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.responders.transports import Transport, TransportError
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import OutboxItem, OutboxStatus, Ticket

log = logging.getLogger(__name__)


def backoff(attempts: int, base_seconds: float = 30.0, cap_seconds: float = 3600.0) -> dt.timedelta:
    """30 s, 1 min, 2 min, … capped at an hour."""
    return dt.timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        transports: Mapping[str, Transport],
        max_attempts: int = 8,
        now: Clock = system_clock,
    ) -> None:
        self.sessions = sessions
        self.transports = transports
        self.max_attempts = max_attempts
        self.now = now

    def _claim(self, session: Session, limit: int) -> list[OutboxItem]:
        # SKIP LOCKED lets several workers share one PostgreSQL queue; SQLite ignores it and
        # serialises writers instead.
        return list(
            session.scalars(
                select(OutboxItem)
                .where(
                    OutboxItem.status == OutboxStatus.PENDING,
                    OutboxItem.next_attempt_at <= self.now(),
                )
                .order_by(OutboxItem.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )

    def run_once(self, limit: int = 100) -> DispatchReport:
        report = DispatchReport()
        with self.sessions() as session:
            ids = [item.id for item in self._claim(session, limit)]
            session.rollback()
        for item_id in ids:
            self._send_one(item_id, report)
        return report

    def _send_one(self, item_id: int, report: DispatchReport) -> None:
        with self.sessions.begin() as session:
            item = session.scalars(
                select(OutboxItem)
                .where(OutboxItem.id == item_id, OutboxItem.status == OutboxStatus.PENDING)
                .with_for_update(skip_locked=True)
            ).first()
            if item is None:
                return  # another worker took it
            transport = self.transports.get(item.channel)
            item.attempts += 1
            try:
                if transport is None:
                    raise TransportError(f"no transport for channel {item.channel!r}")
                transport.send(item)
            except TransportError as exc:
                item.last_error = str(exc)
                if exc.permanent or item.attempts >= self.max_attempts:
                    item.status = OutboxStatus.DEAD
                    report.dead += 1
                    ticket = session.get(Ticket, item.ticket_id) if item.ticket_id else None
                    repo.audit(
                        session,
                        "dispatcher",
                        "outbox_dead",
                        ticket,
                        outbox_id=item.id,
                        error=str(exc),
                    )
                    log.warning("outbox item %s is dead: %s", item.id, exc)
                else:
                    item.next_attempt_at = self.now() + backoff(item.attempts)
                    report.retried += 1
                return
            item.status = OutboxStatus.SENT
            item.sent_at = self.now()
            item.last_error = None
            report.sent += 1
