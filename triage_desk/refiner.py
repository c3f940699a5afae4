"""The refiner: asks the classifier's semantic stage about what intake stored unsure.

With ``service.semantic_stage = "deferred"`` intake classifies with the fast stage alone
(microseconds a message) and marks the suggestions it was unsure of ``needs_refinement``;
the acknowledgement states that provisional category and says staff will check it. The
semantic stage (tens of milliseconds a message) then runs here, in the background, and adds
a second suggestion for staff to see. It never changes what the person was told: the ticket
keeps its category and due times until staff confirm or change it (``triage decide``), and a
change sends the recategorisation notice as any staff change does. When the refined
suggestion agrees with the ticket and is sure enough to auto-accept, the ticket's category
counts as confirmed, as it would have at intake.

All state is in the database, so a restart only means the next run refines what is left.
The refiner is a runner (``runners/``): it claims a batch before it embeds (a lease,
``Suggestion.refining_until``, committed), so two refiners on one database refine disjoint
sets; it stores a result only while its lease still holds, so a refiner that outlived its
lease leaves the suggestion to the one that took it over; and a refiner that died leaves
its claims to be taken again when their lease ends.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.classifier.predict import Classifier, ClassifierInput, Prediction
from triage_desk.clock import Clock, system_clock
from triage_desk.desks import Desks
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import Message, Suggestion, Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refined:
    ticket_number: str
    before: tuple[str, str]  # (category, feedback type) the fast stage suggested
    after: tuple[str, str]
    stage: str
    auto_accepted: bool


def pending_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Suggestion).where(Suggestion.needs_refinement)
            )
            or 0
        )


# How long a claim keeps other refiners away: far longer than a batch takes to embed,
# short enough that a crash delays a second opinion little. A refiner that outlives it
# stores nothing for the claims it lost.
LEASE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Claimed:
    """A suggestion this refiner owns until ``until``, with what the classifier needs."""

    suggestion_id: int
    until: dt.datetime
    item: ClassifierInput


class Refiner:
    """The runner: claim waiting suggestions, embed them, store the second suggestions."""

    name = "refiner"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        classifier: Classifier,
        batch: int = 32,
        lease: dt.timedelta = LEASE,
        idle_seconds: float = 2.0,
    ) -> None:
        self.sessions = sessions
        self.desks = desks
        self.classifier = classifier
        self.batch = batch
        self.lease = lease
        self.idle_seconds = idle_seconds

    def run_once(self, now: dt.datetime) -> int:
        return self.run_batch(now)[0]

    def refine(self, now: dt.datetime) -> list[Refined]:
        """Claim up to ``batch`` waiting suggestions, oldest first, refine and store them."""
        return self.run_batch(now)[1]

    def run_batch(self, now: dt.datetime) -> tuple[int, list[Refined]]:
        """How many suggestions were claimed (failures included), and what was refined."""
        claimed = self.claim(now)
        if not claimed:
            return 0, []
        return len(claimed), self.commit(claimed, self.work(claimed), now)

    def claim(self, now: dt.datetime) -> list[Claimed]:
        """Lease the oldest waiting suggestions no one holds (a lease that ended is free),
        committed before anything slow happens."""
        table = Suggestion.__table__
        until = now + self.lease
        free = and_(
            table.c.needs_refinement,
            or_(table.c.refining_until.is_(None), table.c.refining_until <= now),
        )
        with self.sessions.begin() as session:
            # One UPDATE: SQLite runs it under its write lock, so a second refiner sees the
            # lease; on PostgreSQL SKIP LOCKED lets it pass over rows being claimed and take
            # the next ones, and the outer WHERE rechecks what it locked.
            oldest = (
                select(table.c.id)
                .where(free)
                .order_by(table.c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            ids = session.scalars(
                update(table)
                .where(table.c.id.in_(oldest.scalar_subquery()), free)
                .values(refining_until=until)
                .returning(table.c.id)
            ).all()
            if not ids:
                return []
            rows = session.execute(
                select(Suggestion.id, Ticket.desk, Message.subject, Message.new_text, Message.text)
                .join(Ticket, Suggestion.ticket_id == Ticket.id)
                .join(Message, Suggestion.message_id == Message.id)
                .where(Suggestion.id.in_(ids))
                .order_by(Suggestion.id)
            ).all()
        claimed = []
        for suggestion_id, desk_name, subject, new_text, text in rows:
            desk = self.desks.by_name.get(desk_name)
            item = ClassifierInput(
                subject=subject or "",
                body=new_text or text or "",
                allowed_categories=desk.categories if desk else None,
                default_language=desk.config.default_language if desk else "lv",
            )
            claimed.append(Claimed(suggestion_id, until, item))
        return claimed

    def work(self, claimed: list[Claimed]) -> list[Prediction | Exception]:
        """The slow part, outside any transaction: nothing is locked while it embeds."""
        return _classify(self.classifier, [c.item for c in claimed])

    def commit(
        self,
        claimed: list[Claimed],
        predictions: list[Prediction | Exception],
        now: dt.datetime,
    ) -> list[Refined]:
        """Store each result whose claim still holds, in one transaction; what was done."""
        done: list[Refined] = []
        table = Suggestion.__table__
        with self.sessions.begin() as session:
            for claim, prediction in zip(claimed, predictions, strict=True):
                still_ours = session.execute(
                    update(table)
                    .where(
                        table.c.id == claim.suggestion_id,
                        table.c.needs_refinement,
                        table.c.refining_until == claim.until,
                    )
                    .values(needs_refinement=False, refining_until=None)
                ).rowcount
                if not still_ours:
                    continue  # the lease ended and another refiner took it over
                refined = _store(session, claim.suggestion_id, prediction, now)
                if refined is not None:
                    done.append(refined)
        return done


def _store(
    session: Session, suggestion_id: int, prediction: Prediction | Exception, now: dt.datetime
) -> Refined | None:
    """The second suggestion and its audit; None when the semantic stage failed on it."""
    fast = session.get_one(Suggestion, suggestion_id)
    if isinstance(prediction, Exception):
        # Cleared all the same: a message that always fails must not be retried forever in
        # front of the others. Staff still have the fast suggestion.
        repo.audit(
            session,
            "system",
            "refinement_failed",
            fast.ticket,
            error=f"{type(prediction).__name__}: {prediction}"[:500],
        )
        return None
    ticket = fast.ticket
    session.add(
        Suggestion(
            ticket=ticket,
            message_id=fast.message_id,
            **prediction.suggestion_fields(),
            created_at=now,
        )
    )
    accepted = (
        prediction.auto_accept
        and prediction.category == ticket.category
        and not ticket.category_confirmed
        and not ticket.decisions
    )
    if accepted:
        ticket.category_confirmed = True
    repo.audit(
        session,
        "system",
        "suggestion_refined",
        ticket,
        category=prediction.category,
        feedback_type=prediction.feedback_type,
        confidence=prediction.confidence,
        was=fast.category,
        auto_accepted=accepted or None,
    )
    return Refined(
        ticket.number,
        (fast.category, fast.feedback_type),
        (prediction.category, prediction.feedback_type),
        prediction.stage,
        accepted,
    )


def refine_pending(
    sessions: sessionmaker[Session],
    desks: Desks,
    classifier: Classifier,
    limit: int = 32,
    now: dt.datetime | None = None,
) -> list[Refined]:
    """Refine up to ``limit`` waiting suggestions, oldest first; returns what was done."""
    return Refiner(sessions, desks, classifier, batch=limit).refine(now or system_clock())


def _classify(classifier: Classifier, items: list[ClassifierInput]) -> list[Prediction | Exception]:
    """The semantic stage for a batch; when the batch fails, each message alone, so one
    message the embedder cannot take does not hold back the rest."""
    try:
        return list(classifier.classify_many(items, semantic=True))
    except Exception:
        log.exception("refining a batch of %d failed; trying one by one", len(items))
    results: list[Prediction | Exception] = []
    for item in items:
        try:
            results.append(classifier.classify_many([item], semantic=True)[0])
        except Exception as error:
            log.exception("refining one message failed")
            results.append(error)
    return results


def refine_all(
    sessions: sessionmaker[Session],
    desks: Desks,
    classifier: Classifier,
    batch: int = 32,
    clock: Clock = system_clock,
) -> list[Refined]:
    """Refine until nothing waits that no one else holds (``triage refine``)."""
    refiner = Refiner(sessions, desks, classifier, batch=batch)
    done: list[Refined] = []
    while True:
        claimed, refined = refiner.run_batch(clock())
        if not claimed:
            return done
        done.extend(refined)
