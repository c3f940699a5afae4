"""What the SMTP listener hands mail to: committed to the inbound queue, then answered 250.

An SMTP session waits only for one INSERT, shared by every session that arrived meanwhile
(``IngestBatcher``), not for parsing, classifying and storing: a sender's 250 comes in
milliseconds whatever the load, and a slow or pathological mail never holds a connection
open. The queue runner (``runners/queue.py``) stores the mail as tickets behind, woken by
``wake`` after each commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from triage_desk.intake.email.batching import IngestBatcher
from triage_desk.intake.email.raw import RawMail, arrival_of
from triage_desk.intake.queue import InboundQueue


class SmtpQueue:
    """``submit`` returns the queue row id once the raw mail is committed (the 250's
    "queued as"); a storage failure raises, and the session answers 451."""

    def __init__(
        self, queue: InboundQueue, wake: Callable[[], None] = lambda: None, max_batch: int = 256
    ) -> None:
        self.queue = queue
        self.wake = wake
        self._commits: IngestBatcher[RawMail, int] = IngestBatcher(
            self.add, max_batch=max_batch, name="smtp-queue"
        )

    async def submit(self, mail: RawMail) -> int:
        return await self._commits.submit(mail)

    def close(self) -> None:
        self._commits.close()

    def add(self, mails: Sequence[RawMail]) -> list[int]:
        """Commit ``mails`` in one transaction; their row ids."""
        ids = self.queue.enqueue([arrival_of(mail) for mail in mails])
        self.wake()
        return ids
