"""The intake pipeline: one inbound message → stored, triaged, timed and acknowledged.

Everything a message causes (ticket, message, suggestion, acknowledgement in the outbox,
audit) is written in ONE transaction, so a crash leaves either all of it or none of it, and
the unique (channel, external id) makes a replayed message a no-op instead of a second ticket
or a second acknowledgement.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.classifier.predict import Classifier, ClassifierInput, Prediction
from triage_desk.config import FEEDBACK_CATEGORY, NO_FEEDBACK
from triage_desk.desks import Desk, Desks
from triage_desk.intake.message import InboundMessage
from triage_desk.responders.acknowledgement import (
    AckFacts,
    new_message_id,
    render_acknowledgement,
    reply_headers,
)
from triage_desk.responders.render import TemplateRenderer
from triage_desk.sla import DueTimes, due_times
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import (
    Direction,
    Message,
    OutboxItem,
    OutboxStatus,
    Suggestion,
    Ticket,
    TicketStatus,
)

log = logging.getLogger(__name__)
_TICKET_IN_SUBJECT = re.compile(r"\[([A-Z]{2,6}-\d{4}-\d{6})\]")


@dataclass(frozen=True)
class IntakeResult:
    ticket_number: str
    ticket_id: int
    message_id: int
    created_ticket: bool
    duplicate: bool
    acknowledged: bool
    category: str
    prediction: Prediction | None
    due: DueTimes | None


def choose_labels(desk: Desk, prediction: Prediction) -> tuple[str, str]:
    """The category and feedback type the ticket starts with, consistent with each other."""
    category = prediction.category
    if category not in desk.categories:
        category = desk.config.fallback_category or FEEDBACK_CATEGORY
    feedback = prediction.feedback_type
    if feedback != NO_FEEDBACK and feedback not in desk.config.feedback_types:
        feedback = NO_FEEDBACK
    return category, feedback


class IntakePipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        classifier: Classifier,
        renderer: TemplateRenderer,
        sender_name: str = "Triage Desk",
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.sessions = sessions
        self.desks = desks
        self.classifier = classifier
        self.renderer = renderer
        self.sender_name = sender_name
        self.now = now

    def process(self, inbound: InboundMessage) -> IntakeResult:
        desk = self.desks[inbound.desk]
        # CPU work first, outside the transaction, so the database is held only briefly.
        prediction = self.classifier.classify(
            ClassifierInput(
                subject=inbound.subject,
                body=inbound.new_text or inbound.text,
                allowed_categories=desk.categories,
                default_language=desk.config.default_language,
            )
        )
        try:
            with self.sessions.begin() as session:
                return self._store(session, desk, inbound, prediction)
        except IntegrityError:
            # Another worker stored the same message between our check and our insert.
            with self.sessions() as session:
                existing = repo.find_message(session, inbound.channel, inbound.external_id)
                if existing is None:
                    raise
                return self._duplicate(existing)

    def _duplicate(self, existing: Message) -> IntakeResult:
        return IntakeResult(
            ticket_number=existing.ticket.number,
            ticket_id=existing.ticket_id,
            message_id=existing.id,
            created_ticket=False,
            duplicate=True,
            acknowledged=False,
            category=existing.ticket.category,
            prediction=None,
            due=None,
        )

    def _thread(self, session: Session, inbound: InboundMessage) -> Ticket | None:
        ids = [i for i in (inbound.in_reply_to, *inbound.references) if i]
        ticket = repo.ticket_for_message_ids(session, inbound.channel, ids)
        if ticket is None:
            match = _TICKET_IN_SUBJECT.search(inbound.subject)
            if match:
                ticket = repo.ticket_by_number(session, match.group(1))
        return ticket

    def _store(
        self, session: Session, desk: Desk, inbound: InboundMessage, prediction: Prediction
    ) -> IntakeResult:
        existing = repo.find_message(session, inbound.channel, inbound.external_id)
        if existing is not None:
            return self._duplicate(existing)

        requester = repo.get_or_create_requester(
            session, inbound.channel, inbound.sender, inbound.sender_name
        )
        language = prediction.language
        followed = self._thread(session, inbound)
        if followed is not None:
            message = self._message(inbound, followed, language)
            session.add(message)
            session.flush()
            repo.audit(session, "system", "follow_up", followed, message_id=message.id)
            return IntakeResult(
                followed.number, followed.id, message.id, False, False, False,
                followed.category, prediction, None,
            )

        category, feedback = choose_labels(desk, prediction)
        due = due_times(desk.calendar, desk.config.categories[category], inbound.received_at)
        local_year = inbound.received_at.astimezone(desk.calendar.zone).year
        ticket = Ticket(
            number=repo.next_ticket_number(
                session, desk.name, desk.config.ticket_prefix, local_year
            ),
            desk=desk.name,
            requester=requester,
            channel=inbound.channel,
            subject=inbound.subject,
            language=language,
            status=TicketStatus.QUEUED
            if due.clock_start > inbound.received_at
            else TicketStatus.OPEN,
            category=category,
            feedback_type=feedback,
            category_confirmed=prediction.auto_accept and category == prediction.category,
            urgent=desk.config.categories[category].urgent,
            received_at=inbound.received_at,
            clock_start=due.clock_start,
            response_due=due.response_due,
            resolution_due=due.resolution_due,
        )
        session.add(ticket)
        message = self._message(inbound, ticket, language)
        session.add(message)
        session.flush()
        session.add(
            Suggestion(
                ticket_id=ticket.id,
                message_id=message.id,
                category=prediction.category,
                category_confidence=prediction.category_confidence,
                feedback_type=prediction.feedback_type,
                feedback_confidence=prediction.feedback_confidence,
                confidence=prediction.confidence,
                auto_accept=prediction.auto_accept,
                model_version=prediction.model_version,
            )
        )
        repo.audit(
            session, "system", "ticket_created", ticket,
            category=category, confidence=prediction.confidence, status=ticket.status,
        )
        acknowledged = False
        if inbound.no_reply_reason:
            repo.audit(session, "system", "no_acknowledgement", ticket,
                       reason=inbound.no_reply_reason)
        else:
            self._queue_acknowledgement(session, desk, inbound, ticket, message, due)
            acknowledged = True
        return IntakeResult(
            ticket.number, ticket.id, message.id, True, False, acknowledged, category,
            prediction, due,
        )

    @staticmethod
    def _message(inbound: InboundMessage, ticket: Ticket, language: str) -> Message:
        return Message(
            ticket=ticket,
            direction=Direction.INBOUND,
            channel=inbound.channel,
            external_id=inbound.external_id,
            in_reply_to=inbound.in_reply_to,
            references=list(inbound.references),
            sender=inbound.sender,
            sender_name=inbound.sender_name,
            recipients=list(inbound.recipients),
            subject=inbound.subject,
            text=inbound.text,
            new_text=inbound.new_text,
            headers=inbound.headers,
            raw=inbound.raw,
            language=language,
            received_at=inbound.received_at,
        )

    def _queue_acknowledgement(
        self,
        session: Session,
        desk: Desk,
        inbound: InboundMessage,
        ticket: Ticket,
        message: Message,
        due: DueTimes,
    ) -> None:
        rendered = render_acknowledgement(
            self.renderer,
            desk,
            AckFacts(
                ticket_number=ticket.number,
                category=ticket.category,
                feedback_type=ticket.feedback_type,
                language=ticket.language,
                subject=inbound.subject,
                received_at=inbound.received_at,
                due=due,
            ),
        )
        our_id = new_message_id(desk, ticket.number)
        # Thread under the person's Message-ID only when they sent one (not our fingerprint).
        replied_to = inbound.external_id if inbound.headers.get("Message-ID") else None
        headers = reply_headers(our_id, replied_to, inbound.references)
        outbound = Message(
            ticket=ticket,
            direction=Direction.OUTBOUND,
            channel=inbound.channel,
            external_id=our_id,
            in_reply_to=inbound.external_id,
            sender=desk.address,
            recipients=[inbound.sender],
            subject=rendered.subject,
            text=rendered.text,
            new_text=rendered.text,
            headers=headers,
            language=ticket.language,
            received_at=self.now(),
        )
        session.add(outbound)
        session.flush()
        session.add(
            OutboxItem(
                dedupe_key=f"ack:{message.id}",
                kind="acknowledgement",
                ticket_id=ticket.id,
                message_id=outbound.id,
                channel=inbound.channel,
                sender=desk.address,
                recipient=inbound.sender,
                subject=rendered.subject,
                body_text=rendered.text,
                headers={**headers, "From-Name": self.sender_name},
                status=OutboxStatus.PENDING,
            )
        )
