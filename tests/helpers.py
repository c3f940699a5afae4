"""Small builders shared by tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.app import email_decoders
from triage_desk.app import queue_runner as build_queue_runner
from triage_desk.clock import system_clock
from triage_desk.intake.decoders import Decoders
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.email.raw import RawMail, arrival_of
from triage_desk.intake.email.smtp_queue import SmtpQueue
from triage_desk.intake.queue import InboundQueue
from triage_desk.runners import RunnerThread
from triage_desk.runners.queue import QueueRunner


def make_mail(
    subject: str = "Nevaru izveidot atskaiti",
    body: str = "Labdien! Atskaišu modulī poga 'Izveidot' nestrādā, cita ceļa nav.",
    sender: str = "Ilze Kalniņa <ilze@novads.example.lv>",
    to: str = "atbalsts@example.lv",
    message_id: str | None = None,
    date: dt.datetime | None = None,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(date or dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC))
    mail["Message-ID"] = message_id or make_msgid(domain="novads.example.lv")
    for key, value in (extra_headers or {}).items():
        mail[key] = value
    mail.set_content(body)
    # CRLF as on the wire: smtplib sends bytes unchanged.
    return mail.as_bytes(policy=policy.SMTP)


def queue_mails(queue: InboundQueue, mails: Sequence[RawMail]) -> list[int]:
    """Commit ``mails`` to the inbound queue as the SMTP listener does; their row ids."""
    return queue.enqueue([arrival_of(mail) for mail in mails])


def queue_runner(
    intake: EmailIntake,
    queue: InboundQueue | None = None,
    decoders: Decoders | None = None,
    **options: Any,
) -> QueueRunner:
    """The service's queue runner over ``intake`` (``max_starts`` from its rules); by
    default on a queue that reads the system clock, as ``InboundQueue(sessions)`` does, with
    email's decoder only."""
    queue = queue or InboundQueue(intake.sessions)
    decoders = decoders or email_decoders(intake.rules)
    return build_queue_runner(intake, decoders, queue, **options)


class QueuedSmtp:
    """What ``triage run`` wires behind the SMTP listener: the group commit into the queue
    (``submit``) and the queue runner in a thread (``start``), woken after each commit."""

    def __init__(
        self, sessions: sessionmaker[Session], intake: EmailIntake | None, idle_seconds: float = 5.0
    ) -> None:
        self.queue = InboundQueue(sessions, intake.clock if intake else system_clock)
        self.runner = (
            None
            if intake is None
            else RunnerThread(
                queue_runner(intake, self.queue, idle_seconds=idle_seconds), self.queue.clock
            )
        )
        self.smtp = SmtpQueue(self.queue, self.runner.wake if self.runner else lambda: None)
        self.submit = self.smtp.submit
        self._started = False

    def start(self) -> None:
        assert self.runner is not None
        self.runner.start()
        self._started = True

    def close(self) -> None:
        self.smtp.close()
        if self.runner is not None and self._started:
            self.runner.stop()


class Ticks:
    """A monotonic clock the test moves: the time limit is tested without waiting."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step  # added at every reading

    def __call__(self) -> float:
        self.now += self.step
        return self.now
