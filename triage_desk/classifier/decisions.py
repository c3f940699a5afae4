"""Staff decisions as labelled examples: what people confirmed or changed teaches the model.

A ticket with at least one decision gives one example: the subject and new text of its first
inbound message, labelled with the last decision on each field ("category",
"feedback_type"); a field nobody decided on keeps the ticket's current value, which staff
saw and left as it was. Such examples are always "train": the dev split stays the bundled,
fixed one, so versions stay comparable.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.classifier.data import Example
from triage_desk.storage.db import make_engine
from triage_desk.storage.models import Decision, Direction, Message, Ticket

FIELDS = ("category", "feedback_type")


def decision_examples(
    database_url: str,
    known_categories: Iterable[str] | None = None,
    known_feedback_types: Iterable[str] | None = None,
) -> tuple[list[Example], int]:
    """(examples, skipped): one example per decided ticket whose labels the model knows."""
    categories = set(known_categories) if known_categories is not None else None
    feedback_types = set(known_feedback_types) if known_feedback_types is not None else None
    engine = make_engine(database_url)
    examples: list[Example] = []
    skipped = 0
    try:
        with Session(engine) as session:
            decided: dict[int, dict[str, str]] = {}
            for decision in session.scalars(select(Decision).order_by(Decision.id)):
                if decision.field in FIELDS:
                    decided.setdefault(decision.ticket_id, {})[decision.field] = decision.to_value
            for ticket_id, labels in sorted(decided.items()):
                ticket = session.get(Ticket, ticket_id)
                message = session.scalars(
                    select(Message)
                    .where(
                        Message.ticket_id == ticket_id, Message.direction == Direction.INBOUND.value
                    )
                    .order_by(Message.id)
                    .limit(1)
                ).first()
                if ticket is None or message is None:
                    skipped += 1
                    continue
                category = labels.get("category", ticket.category)
                feedback = labels.get("feedback_type", ticket.feedback_type)
                if (categories is not None and category not in categories) or (
                    feedback_types is not None and feedback not in feedback_types
                ):
                    skipped += 1
                    continue
                examples.append(
                    Example(
                        id=f"decision-{ticket_id}",
                        desk=ticket.desk,
                        language=message.language or ticket.language or "lv",
                        channel=message.channel,
                        subject=message.subject or "",
                        body=message.new_text or message.text,
                        category=category,
                        feedback_type=feedback,
                        split="train",
                    )
                )
    finally:
        engine.dispose()
    return examples, skipped
