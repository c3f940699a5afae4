"""The dispatcher: drains the outbox, with retries, backoff and a dead-letter state.

Every attempt is recorded before the transport is asked. A short transaction claims the item
(``attempts`` + 1, ``claimed_at``, and ``next_attempt_at`` one lease ahead) and commits; only
then does the transport send, with no transaction open and no row locked; a second
transaction records the outcome (sent, retry after a backoff, dead). So:

* a database that refuses writes (read-only, full, locked) refuses the claim: nothing is sent,
  and the next poll tries again;
* when the outcome cannot be recorded (the database refused it, the process died), the item is
  not sent again before its lease ends, and after that once more at most: a claim that finds
  the previous claim unresolved counts an unconfirmed send, and a second unconfirmed send
  makes the item dead instead of sending it a third time (its Message-ID is fixed, so the one
  repeat is recognisable as such);
* an item that fails steps aside (backoff) and the items behind it go out in the same run;
  when the channel says when to try again (Telegram's 429 ``retry_after``), it waits exactly
  that long, and such refusals do not use up ``max_attempts`` (a flood ends; the reply must
  still go).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.responders.transports import Transport, TransportError
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import OutboxItem, OutboxStatus, Ticket

log = logging.getLogger(__name__)

# How long a claimed item is left alone: longer than any one send takes (the relay's
# timeout applies per socket operation), short enough that a crash delays a reply little.
LEASE = dt.timedelta(minutes=5)
# Sends whose outcome was never recorded, beyond which an item is given up, not sent again.
MAX_UNCONFIRMED_SENDS = 1


def backoff(attempts: int, base_seconds: float = 30.0, cap_seconds: float = 3600.0) -> dt.timedelta:
    """30 s, 1 min, 2 min, … capped at an hour."""
    return dt.timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    unrecorded: int = 0  # outcomes the database refused to record (the lease holds them)
    refused: bool = False  # the database refused a claim: the run stopped, nothing more sent


@dataclass(frozen=True)
class _Claim:
    item: OutboxItem  # as loaded, detached once its claim committed
    attempts: int  # the attempt this claim recorded; the outcome is written only if it holds


def _reason(exc: BaseException) -> str:
    """The driver's own message (the statement and its parameters left out)."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        transports: Mapping[str, Transport],
        max_attempts: int = 8,
        now: Clock = system_clock,
        lease: dt.timedelta = LEASE,
    ) -> None:
        self.sessions = sessions
        self.transports = transports
        self.max_attempts = max_attempts
        self.now = now
        self.lease = lease
        self._refusing = False  # logged once when the database starts refusing claims

    def _due(self, session: Session, limit: int) -> list[int]:
        return list(
            session.scalars(
                select(OutboxItem.id)
                .where(
                    OutboxItem.status == OutboxStatus.PENDING,
                    OutboxItem.next_attempt_at <= self.now(),
                )
                .order_by(OutboxItem.id)
                .limit(limit)
            )
        )

    def run_once(self, limit: int = 100) -> DispatchReport:
        report = DispatchReport()
        with self.sessions() as session:
            ids = self._due(session, limit)
        for item_id in ids:
            try:
                claim = self._claim(item_id, report)
            except SQLAlchemyError as exc:
                self._claims_refused(exc)
                report.refused = True
                break
            if self._refusing:
                self._refusing = False
                log.warning("the database records send attempts again; sending resumed")
            if claim is not None:
                self._send(claim, report)
        return report

    def _claims_refused(self, exc: SQLAlchemyError) -> None:
        if self._refusing:
            log.debug("the database still refuses send attempts: %s", _reason(exc))
            return
        self._refusing = True
        log.warning(
            "the database refuses to record send attempts (%s: %s); nothing is sent until it "
            "accepts them again",
            type(exc).__name__,
            _reason(exc),
        )

    def _claim(self, item_id: int, report: DispatchReport) -> _Claim | None:
        """Record the attempt (committed) before anything is sent; None: not to be sent now."""
        now = self.now()
        with self.sessions.begin() as session:
            # SKIP LOCKED: another worker claiming the same row at this moment keeps it.
            item = session.scalars(
                select(OutboxItem)
                .where(
                    OutboxItem.id == item_id,
                    OutboxItem.status == OutboxStatus.PENDING,
                    OutboxItem.next_attempt_at <= now,
                )
                .with_for_update(skip_locked=True)
            ).first()
            if item is None:
                return None  # another worker took it, or it is no longer due
            unconfirmed = item.unconfirmed_sends + (item.claimed_at is not None)
            if unconfirmed > MAX_UNCONFIRMED_SENDS or (
                item.claimed_at is not None and self._counted(item, item.attempts)
            ):
                error = (
                    f"not sent again: {unconfirmed} earlier attempt(s) may have been delivered "
                    "but were never recorded"
                )
                values: dict[str, Any] = {
                    "status": OutboxStatus.DEAD,
                    "last_error": error,
                    "claimed_at": None,
                    "unconfirmed_sends": unconfirmed,
                }
                if self._update(session, item, item.attempts, **values):
                    self._dead(session, item, error, report)
                return None
            attempts = item.attempts + 1
            taken = self._update(
                session,
                item,
                item.attempts,
                attempts=attempts,
                claimed_at=now,
                next_attempt_at=now + self.lease,
                unconfirmed_sends=unconfirmed,
            )
            if not taken:
                return None  # another worker claimed it between our read and our write
            session.expunge(item)
        return _Claim(item, attempts)

    def _counted(self, item: OutboxItem, attempts: int) -> bool:
        """Whether the attempts used up max_attempts; rate-limit refusals do not count."""
        return attempts - (item.throttled or 0) >= self.max_attempts

    @staticmethod
    def _update(session: Session, item: OutboxItem, seen_attempts: int, **values: Any) -> bool:
        """Change the item only if no one else claimed it since ``seen_attempts`` was read."""
        table = OutboxItem.__table__
        result = session.execute(
            update(table)
            .where(
                table.c.id == item.id,
                table.c.status == OutboxStatus.PENDING,
                table.c.attempts == seen_attempts,
            )
            .values(**values)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def _send(self, claim: _Claim, report: DispatchReport) -> None:
        item = claim.item
        transport = self.transports.get(item.channel)
        error: TransportError | None = None
        try:
            if transport is None:
                raise TransportError(f"no transport for channel {item.channel!r}")
            transport.send(item)
        except TransportError as exc:
            error = exc
        except Exception as exc:  # a bug with this one item: it steps aside, the rest go on
            log.exception("outbox item %s could not be sent", item.id)
            error = TransportError(f"{type(exc).__name__}: {exc}")
        try:
            self._record(claim, error, report)
        except SQLAlchemyError as exc:
            report.unrecorded += 1
            log.warning(
                "outbox item %s was %s, but the database refused to record it (%s: %s); it is "
                "not sent again before %s UTC",
                item.id,
                "sent" if error is None else "not sent",
                type(exc).__name__,
                _reason(exc),
                f"{self.now() + self.lease:%H:%M:%S}",
            )

    def _record(self, claim: _Claim, error: TransportError | None, report: DispatchReport) -> None:
        item, now = claim.item, self.now()
        with self.sessions.begin() as session:
            if error is None:
                if self._update(
                    session,
                    item,
                    claim.attempts,
                    status=OutboxStatus.SENT,
                    last_error=None,
                    claimed_at=None,
                ):
                    report.sent += 1
                return
            if error.retry_after is not None and not error.permanent:
                # The channel's own word on when: that item waits, the rest go on.
                if self._update(
                    session,
                    item,
                    claim.attempts,
                    next_attempt_at=now + dt.timedelta(seconds=max(0.0, error.retry_after)),
                    throttled=item.throttled + 1,
                    last_error=str(error),
                    claimed_at=None,
                ):
                    report.retried += 1
                return
            if error.permanent or self._counted(item, claim.attempts):
                if self._update(
                    session,
                    item,
                    claim.attempts,
                    status=OutboxStatus.DEAD,
                    last_error=str(error),
                    claimed_at=None,
                ):
                    self._dead(session, item, str(error), report)
                return
            if self._update(
                session,
                item,
                claim.attempts,
                next_attempt_at=now + backoff(claim.attempts - (item.throttled or 0)),
                last_error=str(error),
                claimed_at=None,
            ):
                report.retried += 1

    @staticmethod
    def _dead(session: Session, item: OutboxItem, error: str, report: DispatchReport) -> None:
        report.dead += 1
        ticket = session.get(Ticket, item.ticket_id) if item.ticket_id else None
        repo.audit(session, "dispatcher", "outbox_dead", ticket, outbox_id=item.id, error=error)
        log.warning("outbox item %s is dead: %s", item.id, error)
