"""Raw mail → triaged message, or the reason it goes to quarantine: all of it without a database.

This is the per-mail work before storing: MIME parsing and normalisation under the
per-message time limit, then ``MessageTriage`` (classification, due times, suggestions).
It neither reads nor writes the database and its result pickles, so ``intake.workers`` can
run it in a forked process while the main process stores the batch before.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triage_desk.config import EmailConfig
from triage_desk.intake.email_parse import inbound_from_email
from triage_desk.intake.errors import Deadline, MailRejected
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.triage import MessageTriage, Triaged

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
class Prepared:
    """One mail ready to store (``triaged``), or why it must be quarantined instead."""

    triaged: Triaged | None
    reason: str | None = None
    detail: str | None = None


class MailPreparer:
    def __init__(self, triage: MessageTriage, rules: EmailConfig) -> None:
        self.triage = triage
        self.rules = rules

    def warm_up(self, desks: Iterable[str]) -> None:
        self.triage.warm_up(desks)

    def prepare(self, mails: Sequence[RawMail]) -> list[Prepared]:
        """Every mail parsed (or rejected with a reason), the parsed ones triaged together."""
        prepared: list[Prepared | None] = [None] * len(mails)
        parsed: list[tuple[int, InboundMessage]] = []
        for index, mail in enumerate(mails):
            try:
                parsed.append((index, self.parse(mail)))
            except MailRejected as exc:
                prepared[index] = Prepared(None, exc.reason, exc.detail)
            except Exception as exc:  # a parser bug must not lose the mail either
                log.exception("unexpected error parsing mail from %s", mail.source)
                prepared[index] = Prepared(None, "unparseable", f"{type(exc).__name__}: {exc}")
        triaged = self.triage.triage([inbound for _index, inbound in parsed])
        for (index, _inbound), item in zip(parsed, triaged, strict=True):
            prepared[index] = Prepared(item)
        return [item for item in prepared if item is not None]

    def parse(self, mail: RawMail) -> InboundMessage:
        """The normalised message; ``MailRejected`` when it must go to quarantine."""
        deadline = Deadline(self.rules.processing_time_limit_seconds)
        inbound = inbound_from_email(
            mail.raw,
            mail.desk,
            mail.received_at,
            mail.envelope_sender,
            mail.envelope_recipients,
            rules=self.rules,
            deadline=deadline,
        )
        deadline.check()
        return inbound
