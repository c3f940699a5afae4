"""The queue runner: the inbound queue (``intake/queue.py``) turned into tickets, every channel.

``run_once`` works the queue off batch after batch:

1. **claim**: a batch of due rows, a start of processing counted for each and committed
   (``InboundQueue.claim``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL);
2. **work**: each channel's items handed to its processor (``begin``: email's goes to a
   forked prepare worker), decoded and triaged with no transaction open;
3. **commit**: ``finish`` stores the tickets (or quarantine entries) and deletes their rows
   in the same transaction.

Batch N+1 is begun before batch N is stored, so preparation overlaps the database work. Not
around an item a process died in: that one is begun alone, once the batch before it is
stored, so a death then counts against it only, and after ``max_starts`` such deaths it is
quarantined unprocessed (``crashed_processing``). An item that fails to store on its own is
postponed with a growing wait, and quarantined after ``max_attempts``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from triage_desk.intake.processing import CRASHED, IngestOutcome, Processor, quarantine
from triage_desk.intake.queue import Alongside, InboundQueue, Queued

log = logging.getLogger(__name__)

# After this many failed attempts to store an item on its own, it is quarantined instead
# (kept raw with the error, for `triage quarantine retry`), so it stops costing retries.
MAX_ATTEMPTS = 5
# A claimed batch: each channel's part with its processor and what ``begin`` returned.
Begun = list[tuple[Processor, list[Queued], Any]]


class QueueRunner:
    """The inbound queue as a ``Runner``; ``processors`` by channel, ``fallback`` for the
    rest (decoded with the registered decoders). ``stopping`` ends a run between batches."""

    name = "inbound-queue"

    def __init__(
        self,
        queue: InboundQueue,
        processors: Mapping[str, Processor],
        fallback: Processor,
        *,
        max_starts: int,
        max_batch: int = 200,
        idle_seconds: float = 5.0,
        max_attempts: int = MAX_ATTEMPTS,
        stopping: threading.Event | None = None,
        observe: Callable[[Queued, IngestOutcome], None] | None = None,
    ) -> None:
        """``observe`` is told each item's outcome once it is stored or quarantined."""
        self.queue = queue
        self.processors = processors
        self.fallback = fallback
        self.max_starts = max_starts
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self.max_attempts = max_attempts
        self.stopping = stopping or threading.Event()
        self.observe = observe

    def run_once(self, now: dt.datetime) -> int:
        # ``now`` is not used: the queue reads its clock at each claim, as batches take time.
        return self.drain()

    def drain(self) -> int:
        """Store everything due now; how many items left the queue."""
        done = 0
        current = following = None
        try:
            current = self._begin(0)
            while current is not None:
                batch, begun = current
                if not self.stopping.is_set() and not batch[0].unfinished:
                    following = self._begin(batch[-1].id, ahead=True)
                done += self._finish(begun)
                current = None
                if following is None and not self.stopping.is_set():
                    following = self._begin(batch[-1].id)
                current, following = following, None
        except Exception:
            # This process lives on (the database went away, say): the starts it counted
            # were not deaths.
            begun_ids = [e.id for pair in (current, following) if pair for e in pair[0]]
            self._hand_back(begun_ids)
            raise
        return done

    def _begin(self, after_id: int, ahead: bool = False) -> tuple[list[Queued], Begun] | None:
        """The next batch claimed and handed to its processors: items with no unfinished
        start together, one with one alone (None for it when ``ahead``). Items past
        ``max_starts`` are quarantined on the way."""
        while True:
            seen: list[Queued] = []

            def choose(due: list[Queued], seen: list[Queued] = seen) -> list[Queued]:
                seen.extend(due)
                crashed = [e for e in due if e.unfinished >= self.max_starts]
                waiting = [e for e in due if e.unfinished < self.max_starts]
                if not waiting:
                    return crashed
                if waiting[0].unfinished:
                    return crashed + ([] if ahead else waiting[:1])
                return crashed + list(itertools.takewhile(lambda e: not e.unfinished, waiting))

            claimed = self.queue.claim(self.max_batch, after_id, choose)
            batch = [e for e in claimed if e.unfinished < self.max_starts]
            for entry in claimed:
                if entry.unfinished >= self.max_starts:
                    self._quarantine_crashed(entry)
            if batch:
                break
            if not seen or len(claimed) < len(seen):  # nothing due, or one waits to go alone
                return None
            after_id = seen[-1].id
        try:
            return batch, self._hand_over(batch)
        except Exception:
            self._hand_back([entry.id for entry in batch])
            raise

    def _hand_over(self, batch: list[Queued]) -> Begun:
        begun: Begun = []
        for processor, part in self._parts(batch):
            labels = [entry.label for entry in part]
            begun.append((processor, part, processor.begin([e.item for e in part], labels)))
        return begun

    def _parts(self, batch: Sequence[Queued]) -> list[tuple[Processor, list[Queued]]]:
        """The batch by channel, each part with its processor (in id order within a part)."""
        parts: dict[str, list[Queued]] = {}
        for entry in batch:
            parts.setdefault(entry.item.channel, []).append(entry)
        return [(self.processors.get(name, self.fallback), part) for name, part in parts.items()]

    def _hand_back(self, begun: list[int]) -> None:
        """After an error this process survived: take back the starts of what was begun
        and not finished; if the database refuses, those starts count as deaths."""
        try:
            self.queue.unstart(begun)
        except Exception as exc:
            log.warning(
                "could not take back the starts of %d queued item(s) (%s)",
                len(begun),
                type(exc).__name__,
            )

    def _quarantine_crashed(self, entry: Queued) -> None:
        detail = f"processing began {entry.starts} times"
        if entry.attempts:
            detail += f" ({entry.attempts} of them ended in a failed attempt to store it)"
        detail += f"; {entry.unfinished} never ended: the process died in them"
        outcome = quarantine(
            self.queue.sessions, entry.item, CRASHED, detail, entry.label, _deleting([entry])
        )
        self._observed([entry], [outcome])

    def _finish(self, begun: Begun) -> int:
        """Store each part with the deletion of its rows; on failure item by item."""
        done = 0
        for processor, part, pending in begun:
            try:
                outcomes = processor.finish(pending, alongside=_deleting(part))
            except Exception as exc:
                # The class only: each item logs the detail once when it fails on its own.
                log.warning(
                    "storing queued items %d to %d failed (%s); storing them one by one",
                    part[0].id,
                    part[-1].id,
                    type(exc).__name__,
                )
                done += sum(self._store_alone(processor, entry) for entry in part)
            else:
                done += self._settled(part, outcomes)
        return done

    def _settled(self, part: Sequence[Queued], outcomes: Sequence[IngestOutcome]) -> int:
        """Observe the items that left the queue, postpone the ones a processor put off
        (``IngestOutcome.postponed``: their rows stay); how many left."""
        left = 0
        for entry, outcome in zip(part, outcomes, strict=True):
            if outcome.postponed:
                next_at = self.queue.postpone(entry.id, entry.attempts + 1, outcome.detail or "")
                log.info("%s put off until %s UTC", entry.label, f"{next_at:%H:%M:%S}")
                continue
            self._observed([entry], [outcome])
            left += 1
        return left

    def _observed(self, part: Sequence[Queued], outcomes: Sequence[IngestOutcome]) -> None:
        if self.observe is not None:
            for entry, outcome in zip(part, outcomes, strict=True):
                self.observe(entry, outcome)

    def _store_alone(self, processor: Processor, entry: Queued) -> int:
        """One item in its own transaction; on failure it waits, and in the end it is
        quarantined rather than retried for ever.

        The error is logged with its traceback at the first failure only, and later by its
        class: the database's message names columns, never the item's values (the engine
        hides statement parameters), so no log line repeats what a message says.
        """
        try:
            pending = processor.begin([entry.item], [entry.label])
            outcomes = processor.finish(pending, _deleting([entry]))
        except Exception as exc:
            attempts = entry.attempts + 1
            error = f"{type(exc).__name__}: {exc}"
            if attempts >= self.max_attempts:
                log.error(
                    "%s could not be stored in %d attempts (%s); quarantining it",
                    entry.label,
                    attempts,
                    type(exc).__name__,
                )
                outcome = quarantine(
                    self.queue.sessions,
                    entry.item,
                    "storage_failed",
                    f"{attempts} attempts; last: {error}",
                    entry.label,
                    _deleting([entry]),
                )
                self._observed([entry], [outcome])
                return 1
            next_at = self.queue.postpone(entry.id, attempts, error)
            log.warning(
                "%s not stored (%s, attempt %d of %d); next attempt at %s",
                entry.label,
                error if attempts == 1 else type(exc).__name__,
                attempts,
                self.max_attempts,
                f"{next_at:%H:%M:%S} UTC",
                exc_info=attempts == 1,
            )
            return 0
        return self._settled([entry], outcomes)


def _deleting(part: list[Queued]) -> Alongside:
    """The rows of ``part`` at the given indexes deleted in the caller's transaction."""

    def delete(session: Session, indexes: Sequence[int]) -> None:
        InboundQueue.delete_in(session, [part[index].id for index in indexes])

    return delete
