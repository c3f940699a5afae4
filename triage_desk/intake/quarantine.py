"""Quarantined mail: look at it, and try it again once the cause is fixed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.storage.models import QuarantinedMail, QuarantineStatus


@dataclass(frozen=True)
class RetryResult:
    quarantine_id: int
    released: bool
    ticket_number: str | None
    reason: str | None  # why it is still held


def held(session: Session, include_released: bool = False) -> list[QuarantinedMail]:
    query = select(QuarantinedMail).order_by(QuarantinedMail.id)
    if not include_released:
        query = query.where(QuarantinedMail.status == QuarantineStatus.HELD)
    return list(session.scalars(query))


def retry(
    sessions: sessionmaker[Session],
    intake: EmailIntake,
    quarantine_id: int,
    time_limit_seconds: float | None = None,
) -> RetryResult:
    """Process a held mail again; on success it becomes a ticket and is marked released.

    The original receipt time is kept, so due times are computed from when the mail came.
    """
    with sessions() as session:
        item = session.get(QuarantinedMail, quarantine_id)
        if item is None:
            raise LookupError(f"no quarantined mail #{quarantine_id}")
        if item.status != QuarantineStatus.HELD:
            raise LookupError(f"quarantined mail #{quarantine_id} was already released")
        mail = RawMail(
            item.raw,
            item.desk or "",
            item.source,
            item.received_at,
            item.envelope_sender,
            tuple(item.recipients),
        )
    rules = intake.rules
    if time_limit_seconds is not None:
        rules = rules.model_copy(update={"processing_time_limit_seconds": time_limit_seconds})
    retrying = EmailIntake(intake.sessions, intake.pipeline, rules)
    outcome = retrying.ingest_many_without_quarantine([mail])[0]
    with sessions.begin() as session:
        item = session.get(QuarantinedMail, quarantine_id)
        assert item is not None
        item.attempts += 1
        item.updated_at = intake.clock()
        if outcome.result is None:
            when = f"{intake.clock():%Y-%m-%d %H:%M} UTC"
            item.detail = f"retry at {when}: {outcome.reason}: {outcome.detail}"[:2000]
            return RetryResult(quarantine_id, False, None, outcome.reason)
        item.status = QuarantineStatus.RELEASED
        item.ticket_id = outcome.result.ticket_id
        return RetryResult(quarantine_id, True, outcome.result.ticket_number, None)
