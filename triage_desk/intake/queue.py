"""The inbound queue: what every channel accepted, committed before the sender is told so.

An adapter's one call is ``InboundQueue.enqueue`` (SMTP answers 250, IMAP sets its flag, a
chat adapter confirms its offset only after it returned). The queue runner
(``runners/queue.py``) claims rows (``claim``), and each row leaves the queue in the commit
that stores its ticket or quarantine entry (``delete_in``), so nothing is lost in between and
a crash after that commit cannot happen before the delete.

Each claim counts a start of processing, committed before the work begins: a start that
ended in neither a stored item nor a recorded failed attempt is one the process died in
(``Queued.unfinished``), and the runner quarantines an item that keeps killing it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.storage.models import QuarantinedMail, QuarantineStatus, QueuedInbound

FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 3600.0
# What a store writes in its own transaction besides the tickets: given the indexes of the
# items it stored, the runner deletes their queue rows there.
Alongside = Callable[[Session, Sequence[int]], None]


@dataclass(frozen=True)
class Arrival:
    """One item as an adapter received it: the channel's bytes and what its decoder needs."""

    channel: str
    desk: str
    payload: bytes
    received_at: dt.datetime
    meta: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None

    @property
    def source(self) -> str:
        """Where it came from, for logs and the quarantine (e.g. "smtp", "imap:box/INBOX")."""
        return str(self.meta.get("source") or self.channel)


@dataclass(frozen=True)
class Queued:
    """A claimed row: its id, the item, failed storing attempts and processing starts."""

    id: int
    item: Arrival
    attempts: int
    starts: int = 0

    @property
    def unfinished(self) -> int:
        """Starts that ended in neither a stored item nor a recorded failure: the process
        died in them (or while storing a batch next to it)."""
        return max(self.starts - self.attempts, 0)

    @property
    def label(self) -> str:
        return f"queued {self.item.channel} {self.id}"


class InboundQueue:
    """The ``inbound_queue`` table: enqueue, claim what is due, delete, postpone."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def enqueue(self, items: Sequence[Arrival]) -> list[int]:
        """Commit ``items`` in one statement and one transaction; their row ids."""
        if not items:
            return []
        with self.sessions.begin() as session:
            return self.enqueue_in(session, items)

    def enqueue_in(self, session: Session, items: Sequence[Arrival]) -> list[int]:
        """``enqueue`` within the caller's transaction (IMAP commits its checkpoint with it)."""
        if not items:
            return []
        table = QueuedInbound.__table__
        now = self.clock()
        rows = [
            {
                "channel": item.channel,
                "desk": item.desk,
                "external_id": item.external_id,
                "payload": item.payload,
                "meta": item.meta,
                "received_at": item.received_at,
                "attempts": 0,
                "starts": 0,
                "next_attempt_at": now,
            }
            for item in items
        ]
        return list(
            session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        )

    def claim(
        self,
        limit: int,
        after_id: int = 0,
        choose: Callable[[list[Queued]], list[Queued]] = list,
    ) -> list[Queued]:
        """The rows ``choose`` picks of up to ``limit`` due ones (ids above ``after_id``),
        a start counted for each and committed (``choose`` sees none: an empty list).

        On PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``: two runners claiming at
        the same moment take different rows (one that takes a row again later stores a
        duplicate, which deduplication turns into nothing). SQLite has one writer.
        """
        table = QueuedInbound.__table__
        with self.sessions.begin() as session:
            query = (
                select(table)
                .where(table.c.id > after_id, table.c.next_attempt_at <= self.clock())
                .order_by(table.c.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            chosen = choose([_queued(row) for row in session.execute(query)])
            if chosen:
                session.execute(
                    update(table)
                    .where(table.c.id.in_([entry.id for entry in chosen]))
                    .values(starts=table.c.starts + 1)
                )
        return chosen  # with the starts counted before this one

    def due(self, limit: int, after_id: int = 0) -> list[Queued]:
        """Up to ``limit`` rows due now, oldest first, nothing claimed (for looking)."""
        table = QueuedInbound.__table__
        with self.sessions() as session:
            rows = session.execute(
                select(table)
                .where(table.c.id > after_id, table.c.next_attempt_at <= self.clock())
                .order_by(table.c.id)
                .limit(limit)
            )
            return [_queued(row) for row in rows]

    def unstart(self, ids: Sequence[int]) -> None:
        """Take back a start of ``ids`` (their processing ended in an error, not a death)."""
        if not ids:
            return
        table = QueuedInbound.__table__
        with self.sessions.begin() as session:
            session.execute(
                update(table)
                # A row whose failed attempt was recorded meanwhile has its start accounted.
                .where(table.c.id.in_(list(ids)), table.c.starts > table.c.attempts)
                .values(starts=table.c.starts - 1)
            )

    @staticmethod
    def delete_in(session: Session, ids: Sequence[int]) -> None:
        """Delete ``ids`` in the caller's transaction: the one that stored their items."""
        if ids:
            table = QueuedInbound.__table__
            session.execute(delete(table).where(table.c.id.in_(list(ids))))

    def postpone(self, queue_id: int, attempts: int, error: str) -> dt.datetime:
        """Record a failed attempt; the next one waits longer each time (up to an hour)."""
        delay = min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), LONGEST_RETRY_SECONDS)
        next_at = self.clock() + dt.timedelta(seconds=delay)
        table = QueuedInbound.__table__
        with self.sessions.begin() as session:
            session.execute(
                update(table)
                .where(table.c.id == queue_id)
                .values(attempts=attempts, last_error=error[:2000], next_attempt_at=next_at)
            )
        return next_at

    def waiting(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(QueuedInbound)) or 0)


def hold(session: Session, item: Arrival, reason: str, detail: str) -> tuple[int, str, str]:
    """Quarantine ``item`` in the caller's transaction: (entry id, reason, detail); an item
    already held (a batch retried one by one) is not held twice."""
    existing = session.scalar(
        select(QuarantinedMail)
        .where(
            QuarantinedMail.status == QuarantineStatus.HELD,
            QuarantinedMail.source == item.source,
            QuarantinedMail.raw == item.payload,
        )
        .limit(1)
    )
    if existing is not None:
        return existing.id, existing.reason, existing.detail
    entry = QuarantinedMail(
        channel=item.channel,
        source=item.source,
        desk=item.desk,
        external_id=item.external_id,
        raw=item.payload,
        reason=reason,
        detail=detail[:2000],
        received_at=item.received_at,
        envelope_sender=item.meta.get("envelope_sender"),
        recipients=list(item.meta.get("recipients") or ()),
    )
    session.add(entry)
    session.flush()
    return entry.id, reason, detail


def _queued(row: Any) -> Queued:
    item = Arrival(
        row.channel,
        row.desk,
        bytes(row.payload),
        row.received_at,
        dict(row.meta or {}),
        row.external_id,
    )
    return Queued(row.id, item, row.attempts, row.starts)
