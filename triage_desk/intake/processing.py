"""Queued items → stored tickets or quarantine entries, for any channel.

A processor works in two steps so a runner can overlap them: ``begin`` starts the work that
needs no database (decoding and triage), ``finish`` stores. ``DecodingProcessor`` does both
in this process with the channel's registered decoder; email has its own processor behind
the same two calls (``intake/email/ingest.py``: forked prepare workers). Both store through
``store_prepared``: the quarantined items and the stored ones each in a commit that also runs
the caller's ``alongside`` for them (the queue's delete).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.intake.decoders import Decoders
from triage_desk.intake.errors import Deadline, DeadlineFactory, MailRejected
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.pipeline import IntakePipeline, IntakeResult
from triage_desk.intake.queue import Alongside, Arrival, hold
from triage_desk.intake.triage import MessageTriage, Triaged

Item = TypeVar("Item")

log = logging.getLogger(__name__)
# The quarantine reason of an item whose processing the process (or its worker) died in.
CRASHED = "crashed_processing"
# The reason of an outcome that leaves its item queued for a later attempt (a chat file that
# could not be fetched for now): the runner postpones it with the queue's growing wait.
POSTPONED = "postponed"


@dataclass(frozen=True)
class Prepared:
    """One item ready to store (``triaged``), or why it must be quarantined instead."""

    triaged: Triaged | None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class IngestOutcome:
    result: IntakeResult | None  # None when quarantined (or, not quarantining, rejected)
    quarantine_id: int | None = None
    reason: str | None = None
    detail: str | None = None

    @property
    def postponed(self) -> bool:
        return self.result is None and self.reason == POSTPONED

    @property
    def ticket_number(self) -> str:
        return self.result.ticket_number if self.result else ""


class Processor(Protocol):
    """What the queue runner hands a channel's claimed items to."""

    def begin(self, items: Sequence[Arrival], labels: Sequence[str]) -> Any: ...

    def finish(self, pending: Any, alongside: Alongside | None = None) -> list[IngestOutcome]: ...


def quarantine(
    sessions: sessionmaker[Session],
    item: Arrival,
    reason: str,
    detail: str,
    label: str | None = None,
    alongside: Alongside | None = None,
) -> IngestOutcome:
    """Hold ``item`` with the reason, ``alongside(session, [0])`` in the same commit."""
    log.warning("quarantined %s: %s (%s)", label or f"mail from {item.source}", reason, detail)
    with sessions.begin() as session:
        held = hold(session, item, reason, detail)
        if alongside is not None:
            alongside(session, [0])
    return IngestOutcome(None, *held)


def store_prepared(
    sessions: sessionmaker[Session],
    pipeline: IntakePipeline,
    items: Sequence[Arrival],
    prepared: Sequence[Prepared],
    labels: Sequence[str] | None = None,
    alongside: Alongside | None = None,
    quarantine_rejected: bool = True,
) -> list[IngestOutcome]:
    """Quarantine the rejected items (each in its own commit), store the rest in one."""
    outcomes: list[IngestOutcome | None] = [None] * len(items)
    ready: list[tuple[int, Triaged]] = []
    for index, (item, done) in enumerate(zip(items, prepared, strict=True)):
        if done.triaged is not None:
            ready.append((index, done.triaged))
        elif quarantine_rejected:
            outcomes[index] = quarantine(
                sessions,
                item,
                done.reason or "unprocessable",
                done.detail or "",
                None if labels is None else labels[index],
                alongside_for(alongside, [index]),
            )
        else:
            outcomes[index] = IngestOutcome(None, None, done.reason, done.detail)
    results = pipeline.store(
        [triaged for _index, triaged in ready],
        alongside=alongside_for(alongside, [index for index, _triaged in ready]),
    )
    for (index, _triaged), result in zip(ready, results, strict=True):
        outcomes[index] = IngestOutcome(result)
    return [outcome for outcome in outcomes if outcome is not None]


def alongside_for(alongside: Alongside | None, indexes: list[int]) -> Alongside | None:
    """``alongside`` for a sub-list: its indexes mapped back to the caller's."""
    if alongside is None:
        return None
    return lambda session, chosen: alongside(session, [indexes[i] for i in chosen])


class DecodingProcessor:
    """Any channel with a registered decoder: decoded and triaged in this process at
    ``finish``, each item within its own time budget."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        pipeline: IntakePipeline,
        decoders: Decoders,
        deadlines: DeadlineFactory,
    ) -> None:
        self.sessions = sessions
        self.pipeline = pipeline
        self.decoders = decoders
        self.deadlines = deadlines

    def begin(
        self, items: Sequence[Arrival], labels: Sequence[str]
    ) -> tuple[list[Arrival], list[str]]:
        return list(items), list(labels)

    def finish(
        self, pending: tuple[list[Arrival], list[str]], alongside: Alongside | None = None
    ) -> list[IngestOutcome]:
        items, labels = pending
        return store_prepared(
            self.sessions, self.pipeline, items, self.prepare(items), labels, alongside
        )

    def prepare(self, items: Sequence[Arrival]) -> list[Prepared]:
        return prepare(items, self.decoders.decode, self.deadlines, self.pipeline.triage)


def prepare(
    items: Sequence[Item],
    decode: Callable[[Item, Deadline], InboundMessage],
    deadlines: DeadlineFactory,
    triage: MessageTriage,
) -> list[Prepared]:
    """Every item decoded (or rejected with a reason), the decoded ones triaged together,
    each within its own time budget."""
    prepared: list[Prepared | None] = [None] * len(items)
    decoded: list[tuple[int, InboundMessage, Deadline]] = []
    for index, item in enumerate(items):
        deadline = deadlines()
        try:
            decoded.append((index, decode(item, deadline), deadline))
        except MailRejected as exc:
            prepared[index] = Prepared(None, exc.reason, exc.detail)
        except Exception as exc:  # a decoder bug must not lose the item either
            log.exception("unexpected error decoding item %d of a batch", index)
            prepared[index] = Prepared(None, "unparseable", f"{type(exc).__name__}: {exc}")
        finally:
            deadline.pause()  # the other items' decoding is not this one's time
    triaged = triage.triage_within(
        [inbound for _index, inbound, _deadline in decoded],
        [deadline for _index, _inbound, deadline in decoded],
    )
    for (index, _inbound, _deadline), done in zip(decoded, triaged, strict=True):
        if isinstance(done, MailRejected):
            prepared[index] = Prepared(None, done.reason, done.detail)
        else:
            prepared[index] = Prepared(done)
    return [done for done in prepared if done is not None]
