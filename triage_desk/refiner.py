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

All state is in the database, so a restart only means the next run refines what is left;
two refiners never refine the same suggestion twice (the flag is cleared by a conditional
update inside the transaction that stores the result).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.classifier.predict import Classifier, ClassifierInput, Prediction
from triage_desk.clock import system_clock
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


def refine_pending(
    sessions: sessionmaker[Session],
    desks: Desks,
    classifier: Classifier,
    limit: int = 32,
    now: dt.datetime | None = None,
) -> list[Refined]:
    """Refine up to ``limit`` waiting suggestions, oldest first; returns what was done."""
    with sessions() as session:
        rows = session.execute(
            select(Suggestion.id, Ticket.desk, Message.subject, Message.new_text, Message.text)
            .join(Ticket, Suggestion.ticket_id == Ticket.id)
            .join(Message, Suggestion.message_id == Message.id)
            .where(Suggestion.needs_refinement)
            .order_by(Suggestion.id)
            .limit(limit)
        ).all()
    if not rows:
        return []
    items = []
    for _, desk_name, subject, new_text, text in rows:
        desk = desks.by_name.get(desk_name)
        items.append(
            ClassifierInput(
                subject=subject or "",
                body=new_text or text or "",
                allowed_categories=desk.categories if desk else None,
                default_language=desk.config.default_language if desk else "lv",
            )
        )
    # The slow part runs outside any transaction: nothing is locked while it embeds.
    predictions = _classify(classifier, items)
    now = now or system_clock()
    done: list[Refined] = []
    with sessions.begin() as session:
        for (suggestion_id, *_), prediction in zip(rows, predictions, strict=True):
            claimed = session.execute(
                update(Suggestion)
                .where(Suggestion.id == suggestion_id, Suggestion.needs_refinement)
                .values(needs_refinement=False)
            ).rowcount
            if not claimed:
                continue  # another refiner stored it meanwhile
            fast = session.get_one(Suggestion, suggestion_id)
            if isinstance(prediction, Exception):
                # Cleared all the same: a message that always fails must not be retried
                # forever in front of the others. Staff still have the fast suggestion.
                repo.audit(
                    session,
                    "system",
                    "refinement_failed",
                    fast.ticket,
                    error=f"{type(prediction).__name__}: {prediction}"[:500],
                )
                continue
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
            done.append(
                Refined(
                    ticket.number,
                    (fast.category, fast.feedback_type),
                    (prediction.category, prediction.feedback_type),
                    prediction.stage,
                    accepted,
                )
            )
    return done


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
    sessions: sessionmaker[Session], desks: Desks, classifier: Classifier, batch: int = 32
) -> list[Refined]:
    """Refine until nothing waits (``triage refine``)."""
    done: list[Refined] = []
    while True:
        step = refine_pending(sessions, desks, classifier, limit=batch)
        if not step:
            return done
        done.extend(step)
