"""Step (after ``write_rows``): the virtual assistant answers a chat's questions, in the
transaction that stores them.

For a person's message in a chat (any channel but email) that may be answered:

* a typed "yes"/"no" right after an assistant answer is its feedback (the message is stored
  on the ticket all the same): thanks, on "no" with when a human will answer, and the
  answer's buttons are taken away;
* a message the model reads as a category with a 24/7 route (eParaksts certificate
  suspension) that joins an existing ticket gets that route at once, at any hour (a new
  ticket's first reply is the route already: ``queue_first_reply``);
* out of hours, or in hours for the desk's ``assistant.in_hours_categories``, the question
  gets the knowledge-base answer with "Did this help?" buttons, or the honest decline with
  the ticket's response due. A new ticket's decline is stored, not sent: its
  acknowledgement has said as much.

Every reply is an outbox item keyed by the message, written with it: a crash stores both or
neither, and a replayed message is a duplicate that reaches no step. Channel-neutral: the
buttons are an item header (``buttons``), an edit names the item it edits (``edit_of``);
each chat channel's sender makes its own of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.responders.acknowledgement import urgent_route_context
from triage_desk.responders.chat_assistant import ChatAssistant, chosen_line, read_feedback
from triage_desk.responders.outbox import (
    PendingOutbound,
    dedupe_key,
    prepare_outbound,
    write_outbound,
)
from triage_desk.responders.render import Rendered
from triage_desk.storage.models import (
    AssistantAnswer,
    AuditEvent,
    OutboxItem,
    OutboxStatus,
    TicketStatus,
)

EMAIL = "email"
# Assistant answers per chat per hour: a chat that floods the bot stops getting them.
PER_CHAT_PER_HOUR = 20


def answer_key(answer: AssistantAnswer) -> str:
    """The outbox key of the message that carries an answer (its buttons' message)."""
    return f"assistant:{answer.id}"


def queue_edit(
    session: Session, answer: AssistantAnswer, recipient: str, sender: str, now: dt.datetime
) -> None:
    """The answer's message edited, once per answer ever: its buttons gone, the choice
    added under it (``append``: the sender adds the text to what the message says)."""
    target = session.scalar(
        select(OutboxItem.dedupe_key).where(OutboxItem.dedupe_key == answer_key(answer))
    )
    if target is None or answer.helped is None:
        return
    session.add(
        OutboxItem(
            dedupe_key=f"assistant-edit:{answer.id}",
            kind="chat_edit",
            ticket_id=answer.ticket_id,
            channel=answer.channel,
            sender=sender,
            recipient=recipient,
            recipient_key=recipient,
            subject="",
            body_text=chosen_line(answer.language, answer.helped),
            headers={"edit_of": target, "append": True, "automatic": True},
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )


def _audit(batch: Batch, work: Work, action: str, **details: Any) -> None:
    """An audit event on the message's ticket (``write_rows`` has written the batch's)."""
    assert work.ticket is not None
    batch.session.add(
        AuditEvent(
            at=batch.now,
            actor="assistant",
            action=action,
            ticket_id=work.ticket.id,
            details={k: v for k, v in details.items() if v is not None},
        )
    )


class AnswerInChat:
    """The step; ``chat`` is the assistant that answers and stores."""

    def __init__(self, chat: ChatAssistant) -> None:
        self.chat = chat

    def __call__(self, batch: Batch) -> None:
        pending: list[PendingOutbound] = []
        for work in batch.fresh:
            if self._answerable(batch, work):
                pending.extend(self._answer(batch, work))
        write_outbound(batch.session, pending)

    def _answerable(self, batch: Batch, work: Work) -> bool:
        inbound, ticket = work.inbound, work.ticket
        if inbound.channel == EMAIL or ticket is None or work.message_id is None:
            return False
        if work.refused or ticket.status in (TicketStatus.ROBOT, TicketStatus.REFUSED):
            return False
        if work.author.kind != "person" or batch.policy.by_nature(inbound, work.author):
            return False
        if batch.requester(work).undeliverable:
            return False
        if work.created_ticket:
            return work.acknowledged  # the limits that held the acknowledgement hold this
        max_age = dt.timedelta(hours=batch.rules.acknowledge_max_age_hours)
        return batch.now - inbound.received_at <= max_age

    def _answer(self, batch: Batch, work: Work) -> list[PendingOutbound]:
        inbound, desk, ticket = work.inbound, work.desk, work.ticket
        assert ticket is not None
        session, now, language = batch.session, batch.now, ticket.language
        text = (inbound.new_text or inbound.text).strip()
        verdict = read_feedback(text)
        waiting = (
            self.chat.awaiting_feedback(session, inbound.channel, inbound.sender, now)
            if verdict is not None
            else None
        )
        if waiting is not None and verdict is not None:
            return self._feedback(batch, work, waiting, verdict)
        if verdict is not None and not work.created_ticket:
            return []  # a bare "yes" or "no" with no answer waiting: no question to answer
        rules = desk.config.categories[work.triaged.category]
        if rules.reply_template:
            if work.created_ticket:
                return []  # its first reply was the route
            rendered = batch.renderer.render(
                rules.reply_template,
                desk.name,
                language,
                urgent_route_context(desk, ticket, inbound.received_at),
            )
            # Staff see it first, as they see a new ticket of that category.
            ticket.urgent = ticket.urgent or rules.urgent
            _audit(batch, work, "chat_route", category=work.triaged.category)
            return [self._reply(batch, work, rules.reply_template, rendered, "route")]
        settings = desk.config.assistant
        out_of_hours = desk.calendar.clock_start(inbound.received_at) > inbound.received_at
        wanted = out_of_hours or ticket.category in settings.in_hours_categories
        if not settings.enabled or not wanted or not text or self._flooding(batch, work):
            return []
        offer = self.chat.offer(
            session,
            desk,
            channel=inbound.channel,
            asker=inbound.sender,
            question=text,
            language=language,
            now=now,
            ticket=ticket,
            message_id=work.message_id,
        )
        _audit(
            batch,
            work,
            "assistant_declined" if offer.declined else "assistant_answered",
            article=offer.record.article_slug,
        )
        if offer.declined and work.created_ticket:
            return []  # the acknowledgement has said a person will answer, and by when
        reply = self._reply(batch, work, offer.kind, offer.rendered, "")
        reply.item["dedupe_key"] = answer_key(offer.record)
        if offer.buttons:
            reply.item["headers"]["buttons"] = offer.buttons
        return [reply]

    def _feedback(
        self, batch: Batch, work: Work, answer: AssistantAnswer, helped: bool
    ) -> list[PendingOutbound]:
        inbound, desk, ticket = work.inbound, work.desk, work.ticket
        self.chat.record_feedback(answer, helped, "text", batch.now)
        _audit(
            batch,
            work,
            "assistant_helped" if helped else "assistant_handoff",
            article=answer.article_slug,
            question=answer.question[:500],
            via="text",
        )
        queue_edit(batch.session, answer, inbound.sender, desk.address, batch.now)
        rendered = self.chat.thanks(desk, answer.language, ticket, helped)
        return [self._reply(batch, work, "assistant_thanks", rendered, "thanks")]

    def _flooding(self, batch: Batch, work: Work) -> bool:
        hour_ago = batch.now - dt.timedelta(hours=1)
        count = batch.session.scalar(
            select(func.count(AssistantAnswer.id)).where(
                AssistantAnswer.channel == work.inbound.channel,
                AssistantAnswer.asker == work.inbound.sender,
                AssistantAnswer.created_at >= hour_ago,
            )
        )
        return int(count or 0) >= PER_CHAT_PER_HOUR

    @staticmethod
    def _reply(
        batch: Batch, work: Work, kind: str, rendered: Rendered, purpose: str
    ) -> PendingOutbound:
        inbound = work.inbound
        assert work.ticket is not None
        return prepare_outbound(
            desk=work.desk,
            ticket=work.ticket,
            kind=kind,
            rendered=rendered,
            recipient=inbound.sender,
            channel=inbound.channel,
            key=dedupe_key(f"chat-{purpose or 'assistant'}", inbound.channel, inbound.external_id),
            now=batch.now,
            sender_name=batch.sender_name,
            in_reply_to=work.sender_message_id,
        )
