"""Raw mail → triaged message, or the reason it goes to quarantine: all of it without a database.

This is the per-mail work before storing: MIME parsing and normalisation, then
``MessageTriage`` (classification, due times, suggestions), all of it within each mail's own
time budget (``email.processing_time_limit_seconds``): a mail that runs out of it, in any
step, is quarantined with reason ``timeout`` and the step named; the rest of its batch goes on.
It neither reads nor writes the database and its result pickles, so ``intake.email.workers`` can
run it in a forked process while the main process stores the batch before.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triage_desk.config import EmailConfig
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.errors import Deadline, DeadlineFactory, MailRejected
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

    def _deadline(self) -> Deadline:
        return Deadline(self.rules.processing_time_limit_seconds)

    def warm_up(self, desks: Iterable[str]) -> None:
        self.triage.warm_up(desks)

    def prepare(self, mails: Sequence[RawMail]) -> list[Prepared]:
        """Every mail parsed (or rejected with a reason), the parsed ones triaged together."""
        prepared: list[Prepared | None] = [None] * len(mails)
        parsed: list[tuple[int, InboundMessage, Deadline]] = []
        for index, mail in enumerate(mails):
            deadline = self.deadlines()
            try:
                parsed.append((index, self.parse(mail, deadline), deadline))
            except MailRejected as exc:
                prepared[index] = Prepared(None, exc.reason, exc.detail)
            except Exception as exc:  # a parser bug must not lose the mail either
                log.exception("unexpected error parsing mail from %s", mail.source)
                prepared[index] = Prepared(None, "unparseable", f"{type(exc).__name__}: {exc}")
            finally:
                deadline.pause()  # the other mails' parsing is not this one's time
        triaged = self.triage.triage_within(
            [inbound for _index, inbound, _deadline in parsed],
            [deadline for _index, _inbound, deadline in parsed],
        )
        for (index, _inbound, _deadline), item in zip(parsed, triaged, strict=True):
            if isinstance(item, MailRejected):
                prepared[index] = Prepared(None, item.reason, item.detail)
            else:
                prepared[index] = Prepared(item)
        return [item for item in prepared if item is not None]

    def parse(self, mail: RawMail, deadline: Deadline | None = None) -> InboundMessage:
        """The normalised message; ``MailRejected`` when it must go to quarantine."""
        deadline = deadline or self.deadlines()
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
