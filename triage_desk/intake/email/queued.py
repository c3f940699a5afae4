"""Email as a channel of the inbound queue: its rows, its decoder and its processor.

A mail's queue row is the raw message as the payload and, in ``meta``, where it came from
and its SMTP envelope. ``EmailDecoder`` is what the decoder registry knows as "email";
``EmailProcessor`` hands the queue runner's claimed mail to ``EmailIntake`` (its forked
prepare workers and per-mail limits), so that machinery stays behind the runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from triage_desk.config import EmailConfig
from triage_desk.intake.decoders import Decoders
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.email.raw import CHANNEL, mail_of
from triage_desk.intake.errors import Deadline
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.processing import IngestOutcome
from triage_desk.intake.queue import Alongside, Arrival

if TYPE_CHECKING:
    from triage_desk.intake.email.ingest import EmailIntake, PendingMails


class EmailDecoder:
    """RFC 5322 bytes → the normalised message, within the mail's time budget."""

    def __init__(self, rules: EmailConfig) -> None:
        self.rules = rules

    def decode(self, item: Arrival, deadline: Deadline) -> InboundMessage:
        mail = mail_of(item)
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


def register(decoders: Decoders, rules: EmailConfig) -> None:
    decoders.register(CHANNEL, EmailDecoder(rules))


class EmailProcessor:
    """The queue runner's processor for "email": ``EmailIntake.begin`` and ``finish``."""

    def __init__(self, intake: EmailIntake) -> None:
        self.intake = intake

    def begin(self, items: Sequence[Arrival], labels: Sequence[str]) -> PendingMails:
        return self.intake.begin([mail_of(item) for item in items], labels)

    def finish(
        self, pending: PendingMails, alongside: Alongside | None = None
    ) -> list[IngestOutcome]:
        return self.intake.finish(pending, alongside=alongside)
