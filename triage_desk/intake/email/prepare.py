"""Raw mail → triaged message, or the reason it goes to quarantine: all of it without a database.

This is the per-mail work before storing: MIME parsing and normalisation, then
``MessageTriage`` (classification, due times, suggestions), all of it within each mail's own
time budget (``email.processing_time_limit_seconds``): a mail that runs out of it, in any
step, is quarantined with reason ``timeout`` and the step named; the rest of its batch goes on.
It neither reads nor writes the database and its result pickles, so ``intake.email.workers`` can
run it in a forked process while the main process stores the batch before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from triage_desk.config import EmailConfig
from triage_desk.intake.email.queued import EmailDecoder
from triage_desk.intake.email.raw import RawMail, arrival_of
from triage_desk.intake.errors import Deadline, DeadlineFactory
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.processing import Prepared, prepare
from triage_desk.intake.triage import MessageTriage

log = logging.getLogger(__name__)
__all__ = ["MailPreparer", "Prepared", "RawMail"]


class MailPreparer:
    def __init__(
        self,
        triage: MessageTriage,
        rules: EmailConfig,
        deadlines: DeadlineFactory | None = None,
    ) -> None:
        """``deadlines`` makes each mail's time budget (tests pass their own clock)."""
        self.triage = triage
        self.rules = rules
        self.deadlines = deadlines or self._deadline
        self.decoder = EmailDecoder(rules)

    def _deadline(self) -> Deadline:
        return Deadline(self.rules.processing_time_limit_seconds)

    def warm_up(self, desks: Iterable[str]) -> None:
        self.triage.warm_up(desks)

    def prepare(self, mails: Sequence[RawMail]) -> list[Prepared]:
        """Every mail parsed (or rejected with a reason), the parsed ones triaged together."""
        return prepare(mails, self.parse, self.deadlines, self.triage)

    def parse(self, mail: RawMail, deadline: Deadline | None = None) -> InboundMessage:
        """The normalised message; ``MailRejected`` when it must go to quarantine."""
        return self.decoder.decode(arrival_of(mail), deadline or self.deadlines())
