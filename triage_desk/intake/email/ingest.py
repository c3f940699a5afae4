"""Raw mail in, parsed and processed, or quarantined with a reason: email's processor.

The SMTP listener and the IMAP fetcher commit mail to the inbound queue; the queue runner
hands what it claims to ``EmailIntake`` (through ``queued.EmailProcessor``), and
``triage quarantine retry`` calls it directly. It never raises for a bad mail (that is
quarantined) and raises only when storing itself fails.

A batch goes in two steps: ``begin`` hands it to a worker process, when there is one, for the
work that needs no database (``intake.email.prepare``); ``finish`` stores it. A runner that
begins the next batch before finishing this one keeps both the worker and the main process
busy.

A mail that kills its worker (out of memory, a crash in a C parser) must not then run
unbounded here: when a worker dies in a batch, the batch is prepared again mail by mail in
its replacement, and a mail a worker dies on alone is quarantined (``crashed_processing``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.config import EmailConfig
from triage_desk.intake.email.prepare import MailPreparer, Prepared
from triage_desk.intake.email.raw import RawMail, arrival_of
from triage_desk.intake.email.share import WorkShare
from triage_desk.intake.email.workers import (
    PrepareWorkers,
    WorkerFailed,
    WorkerLost,
    fork_is_safe,
    with_raw,
)
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.processing import CRASHED, IngestOutcome, quarantine, store_prepared
from triage_desk.intake.queue import Alongside

log = logging.getLogger(__name__)
__all__ = ["CRASHED", "EmailIntake", "IngestOutcome", "PendingMails", "RawMail"]
# A worker batch may take this long beyond the per-message limits of its mails before the
# worker is given up for hung (forked with a lock some other thread held, say).
WORKER_GRACE_SECONDS = 60.0
KEEP_WHEN_BEHIND = 2


@dataclass(frozen=True)
class PendingMails:
    """A batch between ``EmailIntake.begin`` and ``finish``."""

    mails: list[RawMail]
    # The first ``handed`` mails, prepared in a worker (None: all of them here at finish).
    future: Future[list[Prepared]] | None
    # What the log calls each mail when it is quarantined (e.g. its queue row); None: its source.
    labels: list[str] | None = None
    handed: int = 0

    @property
    def kept(self) -> list[RawMail]:
        """The mails this process prepares itself, at finish."""
        return self.mails[self.handed :] if self.future is not None else self.mails


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
        self.clock = pipeline.now
        self.preparer = MailPreparer(pipeline.triage, rules)
        self.workers: PrepareWorkers | None = None
        self.worker_grace_seconds = WORKER_GRACE_SECONDS
        # With this many batches outstanding in the workers, ``begin`` keeps the next one
        # for this process, which would otherwise only wait for them (None: hand all over;
        # figures in bench/README.md, "Figures behind code choices").
        self.keep_when_behind: int | None = KEEP_WHEN_BEHIND
        self.share = WorkShare(0)  # how much of a batch this process prepares beside them

    def start_workers(self, processes: int = 1, desks: Sequence[str] = ()) -> None:
        """Fork ``processes`` workers for ``prepare`` (none: everything in this process);
        they load what the first mail for ``desks`` needs while the listeners start.

        Fork before starting threads: a child inherits only the forking thread, and a lock
        another thread holds at that moment stays held in the child (the result timeout in
        ``finish`` covers that).
        """
        if processes <= 0 or self.workers is not None:
            return
        if not fork_is_safe():
            log.warning(
                "the language detector is already loaded in this process, and its "
                "threads would not survive a fork: preparing mail in this process"
            )
            return
        self.preparer.triage.load(desks)  # shared with the workers, and ready here too
        share = WorkShare(processes)
        try:
            self.workers = PrepareWorkers(self.preparer, processes, desks, share.worker_prepared)
        except WorkerLost as exc:
            log.error("%s; preparing mail in this process", exc)
            return
        self.share = share
        log.info(
            "%d prepare worker(s) forked: pid %s",
            processes,
            ", ".join(str(pid) for pid in self.workers.pids),
        )

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    def ingest(
        self,
        raw: bytes,
        desk: str,
        source: str,
        received_at: dt.datetime | None = None,
        envelope_sender: str | None = None,
        envelope_recipients: tuple[str, ...] = (),
    ) -> IngestOutcome:
        mail = RawMail(
            raw,
            desk,
            source,
            received_at or self.clock(),
            envelope_sender,
            envelope_recipients,
        )
        return self.ingest_many([mail])[0]

    def ingest_many(self, mails: Sequence[RawMail]) -> list[IngestOutcome]:
        """Parse every mail, quarantine the bad ones, store the rest in one transaction."""
        return self._ingest(mails, quarantine=True)

    def ingest_many_without_quarantine(self, mails: Sequence[RawMail]) -> list[IngestOutcome]:
        """Like ``ingest_many``, but a bad mail is reported, not quarantined (again)."""
        return self._ingest(mails, quarantine=False)

    def begin(self, mails: Sequence[RawMail], labels: Sequence[str] | None = None) -> PendingMails:
        """Start preparing ``mails`` in a worker, if there is one; ``finish`` stores them.
        ``labels``: what the log calls each mail if it is quarantined."""
        names = None if labels is None else list(labels)
        if (
            self.workers is not None
            and mails
            and self.keep_when_behind is not None
            and self.workers.outstanding >= self.keep_when_behind
        ):
            # The workers are behind: this process prepares this batch itself (at finish)
            # rather than wait for them then.
            return PendingMails(list(mails), None, names)
        # The rest of the batch is prepared here at finish, while the worker does its part.
        handed = len(mails) - self.share.kept(len(mails)) if self.workers is not None else 0
        future = self._submit(mails[:handed]) if handed else None
        return PendingMails(list(mails), future, names, handed if future is not None else 0)

    def _submit(self, mails: Sequence[RawMail]) -> Future[list[Prepared]] | None:
        """The batch handed to a worker; None when there is no worker (nor can be)."""
        workers = self.workers
        if workers is None:
            return None
        try:
            return workers.submit(mails)
        except WorkerLost as exc:
            log.error("%s; preparing mail in the main process from now on", exc)
            if self.workers is workers:
                self.workers = None
                workers.close()
            return None

    def finish(
        self,
        pending: PendingMails,
        quarantine: bool = True,
        alongside: Alongside | None = None,
    ) -> list[IngestOutcome]:
        """Quarantine the mails that cannot be taken in, store the rest in one transaction;
        ``alongside`` writes in each of those commits (the queue's delete of their rows)."""
        prepared = self._prepared(pending)
        started = time.perf_counter()
        outcomes = store_prepared(
            self.sessions,
            self.pipeline,
            [arrival_of(mail) for mail in pending.mails],
            prepared,
            pending.labels,
            alongside,
            quarantine_rejected=quarantine,
        )
        self.share.stored(len(pending.mails), time.perf_counter() - started)
        return outcomes

    def _prepared(self, pending: PendingMails) -> list[Prepared]:
        """This process's part first, then the worker's (its answer is ready or nearer)."""
        kept = pending.kept
        started = time.perf_counter()
        own = self.preparer.prepare(kept) if kept else []
        self.share.prepared(len(kept), time.perf_counter() - started)
        if pending.future is None:
            return own
        return self._awaited(pending.mails[: pending.handed], pending.future) + own

    def _awaited(self, mails: list[RawMail], future: Future[list[Prepared]]) -> list[Prepared]:
        """What the worker answers for ``mails``. When it dies (or overruns) in this batch,
        each mail again alone in a new worker; when it died with the batch only queued, the
        batch again as it is."""
        while True:
            limit = self.rules.processing_time_limit_seconds * len(mails) + (
                self.worker_grace_seconds
            )
            try:
                return with_raw(future.result(timeout=limit), mails)
            except WorkerFailed as exc:
                # It raised (a bug, not a crash): this process will see why again.
                log.warning("prepare worker failed (%s); preparing the batch here", exc)
                return self.preparer.prepare(mails)
            except FutureTimeout:
                log.error(
                    "prepare worker overran %.1f s on %d mail(s); stopping it", limit, len(mails)
                )
                if self.workers is not None:
                    pid = self.workers.worker_of(future)
                    if pid is not None:
                        self.workers.stop(pid)
                if len(mails) == 1:
                    return [Prepared(None, "timeout", f"no answer from its worker in {limit:g} s")]
                return self._each_alone(mails)
            except WorkerLost as exc:
                if exc.started:
                    log.error("%s while preparing %d mail(s)", exc, len(mails))
                    if len(mails) == 1:
                        return [Prepared(None, CRASHED, "its prepare worker died preparing it")]
                    return self._each_alone(mails)
            # Not begun: it waited behind the batch that went down with the worker.
            again = self._submit(mails)
            if again is None:
                return self.preparer.prepare(mails)
            future = again

    def _each_alone(self, mails: list[RawMail]) -> list[Prepared]:
        """Each mail in a worker of its own batch: only a mail that kills it is lost to it."""
        prepared: list[Prepared] = []
        for mail in mails:
            future = self._submit([mail])
            if future is None:  # no worker can be had: this process, as without workers
                prepared.extend(self.preparer.prepare([mail]))
            else:
                prepared.extend(self._awaited([mail], future))
        return prepared

    def _ingest(self, mails: Sequence[RawMail], quarantine: bool) -> list[IngestOutcome]:
        return self.finish(self.begin(mails), quarantine)

    def quarantine(
        self,
        mail: RawMail,
        reason: str,
        detail: str,
        label: str | None = None,
        alongside: Alongside | None = None,
    ) -> IngestOutcome:
        """Keep ``mail`` raw with the reason; ``label`` names it in the log line."""
        return quarantine(self.sessions, arrival_of(mail), reason, detail, label, alongside)
