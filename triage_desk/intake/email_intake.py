"""Raw mail in, from any mail listener: parsed and processed, or quarantined with a reason.

Both the SMTP listener and the IMAP fetcher hand every mail to ``EmailIntake.ingest``; it
never raises for a bad mail (that is quarantined) and raises only when storage itself fails,
so the listener can make the sender (SMTP 451) or the mailbox (IMAP: not flagged) retry.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.config import EmailConfig
from triage_desk.intake.email_parse import inbound_from_email
from triage_desk.intake.errors import Deadline, MailRejected
from triage_desk.intake.pipeline import IntakePipeline, IntakeResult
from triage_desk.storage.models import QuarantinedMail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOutcome:
    result: IntakeResult | None  # None when quarantined
    quarantine_id: int | None = None
    reason: str | None = None

    @property
    def ticket_number(self) -> str:
        return self.result.ticket_number if self.result else ""


class EmailIntake:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        pipeline: IntakePipeline,
        rules: EmailConfig,
    ) -> None:
        self.sessions = sessions
        self.pipeline = pipeline
        self.rules = rules

    def ingest(
        self,
        raw: bytes,
        desk: str,
        source: str,
        received_at: dt.datetime | None = None,
        envelope_sender: str | None = None,
        envelope_recipients: tuple[str, ...] = (),
    ) -> IngestOutcome:
        received_at = received_at or dt.datetime.now(dt.UTC)
        deadline = Deadline(self.rules.processing_time_limit_seconds)
        try:
            inbound = inbound_from_email(
                raw, desk, received_at, envelope_sender, envelope_recipients,
                rules=self.rules, deadline=deadline,
            )
            deadline.check()
        except MailRejected as exc:
            return self.quarantine(raw, desk, source, exc.reason, exc.detail, received_at,
                                   envelope_sender, envelope_recipients)
        except Exception as exc:  # a parser bug must not lose the mail either
            log.exception("unexpected error parsing mail from %s", source)
            return self.quarantine(raw, desk, source, "unparseable",
                                   f"{type(exc).__name__}: {exc}", received_at,
                                   envelope_sender, envelope_recipients)
        return IngestOutcome(self.pipeline.process(inbound))

    def quarantine(
        self,
        raw: bytes,
        desk: str | None,
        source: str,
        reason: str,
        detail: str,
        received_at: dt.datetime,
        envelope_sender: str | None = None,
        envelope_recipients: tuple[str, ...] = (),
    ) -> IngestOutcome:
        log.warning("quarantined mail from %s: %s (%s)", source, reason, detail)
        with self.sessions.begin() as session:
            item = QuarantinedMail(
                channel="email", source=source, desk=desk, raw=raw, reason=reason,
                detail=detail[:2000], received_at=received_at,
                envelope_sender=envelope_sender, recipients=list(envelope_recipients),
            )
            session.add(item)
            session.flush()
            return IngestOutcome(None, item.id, reason)
