"""The SMTP spool: accepted mail is committed raw at once, and stored as tickets behind.

An SMTP session waits only for one INSERT (shared by every session that arrived meanwhile,
through ``IngestBatcher``), not for parsing, classifying and storing: a sender's 250 comes in
milliseconds whatever the load, and a slow or pathological mail never holds a connection
open. ``SpoolDrainer`` then takes the spooled mail in large batches, as IMAP intake does (the
next batch prepared in a worker while the last one is stored), and deletes each row once its
mail is stored or quarantined.

Nothing is lost in between: a row leaves the spool only after its ticket (or quarantine
entry) is committed. A crash after that commit and before the delete processes the mail
again at the next start, and Message-ID deduplication (a fingerprint of the raw bytes when
there is none) turns that into a duplicate: no second ticket, no second acknowledgement.

Nor does a mail that kills the process (out of memory, a crash in a C parser) crash it at
every start for ever: each row's ``starts`` goes up, committed, before its batch is handed to
preparation. A start that ended in neither a stored mail nor a recorded failed attempt is one
the process died in; such a row is taken alone afterwards, never in a batch nor read ahead
of one, so only the mail that kills the process gathers more of them, and at
``email.max_processing_starts`` it is quarantined (``crashed_processing``) unprocessed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.intake.email.batching import IngestBatcher
from triage_desk.intake.email.ingest import CRASHED, EmailIntake, PendingMails
from triage_desk.intake.email.prepare import RawMail
from triage_desk.storage.models import SpooledMail

log = logging.getLogger(__name__)

# After this many failed attempts to store a mail on its own, it is quarantined instead
# (kept raw with the error, for `triage quarantine retry`), so it stops costing retries.
MAX_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 3600.0


@dataclass(frozen=True)
class Spooled:
    """One spooled mail: its row id, the mail, how often storing it failed, and how often
    its processing began."""

    id: int
    mail: RawMail
    attempts: int
    starts: int = 0

    @property
    def unfinished(self) -> int:
        """Starts that ended in neither a stored mail nor a recorded failure: the process
        died in them (or while storing a batch next to it)."""
        return max(self.starts - self.attempts, 0)

    @property
    def label(self) -> str:
        return f"spooled mail {self.id}"


class MailSpool:
    """The ``mail_spool`` table: add, take what is due, remove, postpone."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def add_many(self, mails: Sequence[RawMail]) -> list[int]:
        """Commit ``mails`` raw, in one statement and one transaction; their row ids."""
        if not mails:
            return []
        table = SpooledMail.__table__
        now = self.clock()
        rows = [
            {
                "desk": mail.desk,
                "source": mail.source,
                "envelope_sender": mail.envelope_sender,
                "recipients": list(mail.envelope_recipients),
                "raw": mail.raw,
                "received_at": mail.received_at,
                "attempts": 0,
                "starts": 0,
                "next_attempt_at": now,
            }
            for mail in mails
        ]
        with self.sessions.begin() as session:
            return list(
                session.scalars(
                    insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
                )
            )

    def due(self, limit: int, after_id: int = 0, now: dt.datetime | None = None) -> list[Spooled]:
        """Up to ``limit`` mails due for an attempt, oldest first, with ids above
        ``after_id`` (a drainer reading ahead skips the batch it is still storing)."""
        table = SpooledMail.__table__
        with self.sessions() as session:
            rows = session.execute(
                select(
                    table.c.id,
                    table.c.raw,
                    table.c.desk,
                    table.c.source,
                    table.c.received_at,
                    table.c.envelope_sender,
                    table.c.recipients,
                    table.c.attempts,
                    table.c.starts,
                )
                .where(table.c.id > after_id, table.c.next_attempt_at <= (now or self.clock()))
                .order_by(table.c.id)
                .limit(limit)
            ).all()
        return [
            Spooled(
                row.id,
                RawMail(
                    bytes(row.raw),
                    row.desk,
                    row.source,
                    row.received_at,
                    row.envelope_sender,
                    tuple(row.recipients or ()),
                ),
                row.attempts,
                row.starts,
            )
            for row in rows
        ]

    def start(self, ids: Sequence[int]) -> None:
        """Count a start of processing for ``ids``, committed before the work begins: a
        process that dies in it leaves the count behind."""
        self._commit((), ids)

    def unstart(self, ids: Sequence[int]) -> None:
        """Take back a start of ``ids`` (their processing ended in an error, not a death)."""
        if not ids:
            return
        table = SpooledMail.__table__
        with self.sessions.begin() as session:
            session.execute(
                update(table)
                # A row whose failed attempt was recorded meanwhile has its start accounted.
                .where(table.c.id.in_(list(ids)), table.c.starts > table.c.attempts)
                .values(starts=table.c.starts - 1)
            )

    def remove(self, ids: Sequence[int], starting: Sequence[int] = ()) -> None:
        """Delete ``ids`` (their mail is stored or quarantined) and, in the same commit,
        count a start for ``starting`` (see ``start``): the drainer's one commit per batch."""
        self._commit(ids, starting)

    def _commit(self, removed: Sequence[int], started: Sequence[int]) -> None:
        if not removed and not started:
            return
        table = SpooledMail.__table__
        with self.sessions.begin() as session:
            if removed:
                session.execute(delete(table).where(table.c.id.in_(list(removed))))
            if started:
                session.execute(
                    update(table)
                    .where(table.c.id.in_(list(started)))
                    .values(starts=table.c.starts + 1)
                )

    def postpone(self, spool_id: int, attempts: int, error: str) -> dt.datetime:
        """Record a failed attempt; the next one waits longer each time (up to an hour)."""
        delay = min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), LONGEST_RETRY_SECONDS)
        next_at = self.clock() + dt.timedelta(seconds=delay)
        table = SpooledMail.__table__
        with self.sessions.begin() as session:
            session.execute(
                update(table)
                .where(table.c.id == spool_id)
                .values(attempts=attempts, last_error=error[:2000], next_attempt_at=next_at)
            )
        return next_at

    def waiting(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(SpooledMail)) or 0)


class SpoolDrainer:
    """A thread that stores spooled mail as tickets, batch after batch, until stopped.

    ``wake`` after adding to the spool; without it, the spool is still looked at every
    ``idle_seconds`` (mail whose attempt was postponed, mail left by a previous run).
    ``max_starts``: unfinished starts after which a mail is quarantined (default: the
    intake's ``email.max_processing_starts``).
    """

    def __init__(
        self,
        spool: MailSpool,
        intake: EmailIntake,
        max_batch: int = 200,
        idle_seconds: float = 5.0,
        max_attempts: int = MAX_ATTEMPTS,
        max_starts: int | None = None,
    ) -> None:
        self.spool = spool
        self.intake = intake
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self.max_attempts = max_attempts
        self._max_starts = max_starts
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="smtp-spool", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the batch being stored; what is left stays spooled for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # the database is away, say: keep the rows, try again later
                log.exception("draining the SMTP spool failed; trying again")
            self._wake.wait(timeout=self.idle_seconds)

    @property
    def max_starts(self) -> int:
        if self._max_starts is not None:
            return self._max_starts
        return self.intake.rules.max_processing_starts

    def drain(self) -> int:
        """Store everything due in the spool now; how many mails left it.

        Batch N+1 is handed to a prepare worker before batch N is stored, so parsing and
        classifying overlap with the database work, as in IMAP intake. Not around a mail a
        process died in: that one is begun alone, once the batch before it is stored, and
        the next begins once it is, so a death then counts against it only. A stored
        batch's rows are deleted in the commit that counts the next batch's start.
        """
        done = 0
        stored: list[int] = []  # rows whose mail is stored: deleted with the next start
        current = following = None
        try:
            current = self._begin(0, stored)
            while current is not None:
                batch, pending = current
                if not self._stop.is_set() and not batch[0].unfinished:
                    following = self._begin(batch[-1].id, stored, ahead=True)
                done += self._finish(batch, pending, stored)
                current = None
                if following is None and not self._stop.is_set():
                    following = self._begin(batch[-1].id, stored)
                current, following = following, None
            self.spool.remove(stored)
        except Exception:
            # This process lives on (the database went away, say): the starts it counted
            # were not deaths.
            begun = [entry.id for pair in (current, following) if pair for entry in pair[0]]
            self._hand_back(stored, begun)
            raise
        return done

    def _begin(
        self, after_id: int, stored: list[int], ahead: bool = False
    ) -> tuple[list[Spooled], PendingMails] | None:
        """The next batch, its starts committed (with the deletion of ``stored``), handed to
        preparation: mails with no unfinished start together, a mail with one alone (None
        for it when ``ahead``). Mails past ``max_starts`` are quarantined on the way."""
        while True:
            due = self.spool.due(self.max_batch, after_id)
            if not due:
                return None
            waiting = [entry for entry in due if not self._crashed_too_often(entry)]
            if waiting:
                break
            after_id = due[-1].id
        if waiting[0].unfinished:
            if ahead:
                return None
            batch = waiting[:1]
        else:
            batch = list(itertools.takewhile(lambda entry: not entry.unfinished, waiting))
        ids = [entry.id for entry in batch]
        if stored:
            self.spool.remove(stored, starting=ids)
            stored.clear()
        else:
            self.spool.start(ids)
        try:
            pending = self.intake.begin(
                [entry.mail for entry in batch], [entry.label for entry in batch]
            )
        except Exception:
            self._hand_back([], ids)
            raise
        return batch, pending

    def _hand_back(self, stored: list[int], begun: list[int]) -> None:
        """After an error this process survived: delete what is stored, and take back the
        starts of what was begun and not finished; if the database refuses, those starts
        count as deaths (and the stored mail is found a duplicate next time)."""
        try:
            self.spool.remove(stored)
            self.spool.unstart(begun)
        except Exception as exc:
            log.warning(
                "could not take back the starts of %d spooled mail(s) (%s)",
                len(begun),
                type(exc).__name__,
            )

    def _crashed_too_often(self, entry: Spooled) -> bool:
        """Quarantine ``entry`` unprocessed when the process died in it ``max_starts`` times."""
        if entry.unfinished < self.max_starts:
            return False
        detail = f"processing began {entry.starts} times"
        if entry.attempts:
            detail += f" ({entry.attempts} of them ended in a failed attempt to store it)"
        detail += f"; {entry.unfinished} never ended: the process died in them"
        self.intake.quarantine(entry.mail, CRASHED, detail, entry.label)
        self.spool.remove([entry.id])
        return True

    def _finish(self, batch: list[Spooled], pending: PendingMails, stored: list[int]) -> int:
        """Store the batch; its ids go to ``stored`` (mail by mail on failure: removed)."""
        try:
            self.intake.finish(pending)
        except Exception as exc:
            # The class only: each mail logs the detail once when it fails on its own.
            log.warning(
                "storing spooled mails %d to %d failed (%s); storing them one by one",
                batch[0].id,
                batch[-1].id,
                type(exc).__name__,
            )
            return sum(self._store_alone(entry) for entry in batch)
        stored.extend(entry.id for entry in batch)
        return len(batch)

    def _store_alone(self, entry: Spooled) -> int:
        """One mail in its own transaction; on failure it waits, and in the end it is
        quarantined rather than retried for ever.

        The error is logged with its traceback at the first failure only, and later by its
        class: the database's message names columns, never the mail's values (the engine
        hides statement parameters), so no log line repeats what the mail says.
        """
        try:
            self.intake.finish(self.intake.begin([entry.mail], [entry.label]))
        except Exception as exc:
            attempts = entry.attempts + 1
            error = f"{type(exc).__name__}: {exc}"
            if attempts >= self.max_attempts:
                log.error(
                    "spooled mail %d could not be stored in %d attempts (%s); quarantining it",
                    entry.id,
                    attempts,
                    type(exc).__name__,
                )
                self.intake.quarantine(
                    entry.mail, "storage_failed", f"{attempts} attempts; last: {error}", entry.label
                )
            else:
                next_at = self.spool.postpone(entry.id, attempts, error)
                log.warning(
                    "spooled mail %d not stored (%s, attempt %d of %d); next attempt at %s",
                    entry.id,
                    error if attempts == 1 else type(exc).__name__,
                    attempts,
                    self.max_attempts,
                    f"{next_at:%H:%M:%S} UTC",
                    exc_info=attempts == 1,
                )
                return 0
        self.spool.remove([entry.id])
        return 1


class SpooledSmtpIntake:
    """What the SMTP listener hands mail to: group-committed into the spool, then drained.

    ``submit`` returns the spool row id once the raw mail is committed (the 250's
    "queued as"); a storage failure raises, and the session answers 451.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        intake: EmailIntake,
        max_batch: int = 200,
        idle_seconds: float = 5.0,
        clock: Clock = system_clock,
    ) -> None:
        self.spool = MailSpool(sessions, clock)
        self.drainer = SpoolDrainer(self.spool, intake, max_batch, idle_seconds)
        self._commits: IngestBatcher[RawMail, int] = IngestBatcher(
            self._add, max_batch=256, name="smtp-spool"
        )

    def start(self) -> None:
        """Start draining, beginning with whatever an earlier run left spooled."""
        left = self.spool.waiting()
        if left:
            log.info(
                "%d mail(s) accepted by an earlier run are still spooled; storing them first", left
            )
        self.drainer.start()

    async def submit(self, mail: RawMail) -> int:
        return await self._commits.submit(mail)

    def close(self) -> None:
        self._commits.close()
        self.drainer.stop()

    def _add(self, mails: Sequence[RawMail]) -> list[int]:
        ids = self.spool.add_many(mails)
        self.drainer.wake()
        return ids
