"""Raw mail in, from any mail listener: parsed and processed, or quarantined with a reason.

Both the SMTP listener and the IMAP fetcher hand every mail to ``EmailIntake.ingest``; it
never raises for a bad mail (that is quarantined) and raises only when storage itself fails,
so the listener can make the sender (SMTP 451) or the mailbox (IMAP: not flagged) retry.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.config import EmailConfig
from triage_desk.intake.email_parse import inbound_from_email
from triage_desk.intake.errors import Deadline, MailRejected
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.pipeline import IntakePipeline, IntakeResult
from triage_desk.storage.models import QuarantinedMail, QuarantineStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawMail:
    """One mail as a listener received it."""

    raw: bytes
    desk: str
    source: str
    received_at: dt.datetime
    envelope_sender: str | None = None
    envelope_recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestOutcome:
    result: IntakeResult | None  # None when quarantined
    quarantine_id: int | None = None
    reason: str | None = None
    detail: str | None = None

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
        mail = RawMail(raw, desk, source, received_at or dt.datetime.now(dt.UTC),
                       envelope_sender, envelope_recipients)
        return self.ingest_many([mail])[0]

    def ingest_many(self, mails: Sequence[RawMail]) -> list[IngestOutcome]:
        """Parse every mail, quarantine the bad ones, store the rest in one transaction."""
        return self._ingest(mails, quarantine=True)

    def ingest_many_without_quarantine(self, mails: Sequence[RawMail]) -> list[IngestOutcome]:
        """Like ``ingest_many``, but a bad mail is reported, not quarantined (again)."""
        return self._ingest(mails, quarantine=False)

    def _ingest(self, mails: Sequence[RawMail], quarantine: bool) -> list[IngestOutcome]:
        outcomes: list[IngestOutcome | None] = [None] * len(mails)
        parsed: list[tuple[int, InboundMessage]] = []
        for index, mail in enumerate(mails):
            deadline = Deadline(self.rules.processing_time_limit_seconds)
            try:
                inbound = inbound_from_email(
                    mail.raw, mail.desk, mail.received_at, mail.envelope_sender,
                    mail.envelope_recipients, rules=self.rules, deadline=deadline,
                )
                deadline.check()
            except MailRejected as exc:
                outcomes[index] = self._reject(mail, exc.reason, exc.detail, quarantine)
                continue
            except Exception as exc:  # a parser bug must not lose the mail either
                log.exception("unexpected error parsing mail from %s", mail.source)
                outcomes[index] = self._reject(
                    mail, "unparseable", f"{type(exc).__name__}: {exc}", quarantine
                )
                continue
            parsed.append((index, inbound))
        results = self.pipeline.process_many([inbound for _index, inbound in parsed])
        for (index, _inbound), result in zip(parsed, results, strict=True):
            outcomes[index] = IngestOutcome(result)
        return [outcome for outcome in outcomes if outcome is not None]

    def _reject(
        self, mail: RawMail, reason: str, detail: str, quarantine: bool
    ) -> IngestOutcome:
        if quarantine:
            return self.quarantine(mail, reason, detail)
        return IngestOutcome(None, None, reason, detail)

    def quarantine(self, mail: RawMail, reason: str, detail: str) -> IngestOutcome:
        log.warning("quarantined mail from %s: %s (%s)", mail.source, reason, detail)
        with self.sessions.begin() as session:
            # A batch retried mail by mail must not quarantine the same mail twice.
            existing = session.scalar(
                select(QuarantinedMail).where(
                    QuarantinedMail.status == QuarantineStatus.HELD,
                    QuarantinedMail.source == mail.source,
                    QuarantinedMail.raw == mail.raw,
                ).limit(1)
            )
            if existing is not None:
                return IngestOutcome(None, existing.id, existing.reason, existing.detail)
            item = QuarantinedMail(
                channel="email", source=mail.source, desk=mail.desk, raw=mail.raw,
                reason=reason, detail=detail[:2000], received_at=mail.received_at,
                envelope_sender=mail.envelope_sender,
                recipients=list(mail.envelope_recipients),
            )
            session.add(item)
            session.flush()
            return IngestOutcome(None, item.id, reason, detail)
