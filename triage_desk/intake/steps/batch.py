"""What every step receives: the batch (one transaction, one "now", the configuration) and
each message's progress through it (``Work``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from triage_desk.classifier.predict import Prediction
from triage_desk.config import EmailConfig
from triage_desk.desks import Desk, Desks
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.reply_policy import Author, ReplyBudget, ReplyDecision, ReplyPolicy
from triage_desk.intake.triage import Triaged
from triage_desk.responders.acknowledgement import ArticleSuggestion
from triage_desk.responders.outbox import PendingOutbound
from triage_desk.responders.render import TemplateRenderer
from triage_desk.sla import DueTimes
from triage_desk.storage import repositories as repo
from triage_desk.storage.clients import Standing
from triage_desk.storage.models import Message, Ticket, TicketStatus


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
    no_ack_reason: str | None = None


def content_digest(inbound: InboundMessage) -> str:
    """What makes two deliveries the same message: sender, subject, text and attachments
    (names and sizes). Identical bytes give the same digest; so does one mail that came twice
    with different transport headers (a copy in each of two desk mailboxes)."""
    digest = hashlib.sha256()
    for part in (inbound.sender, inbound.subject, inbound.text):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    for attachment in inbound.attachments:
        size = attachment.size or len(attachment.data)
        digest.update(f"{attachment.filename}\0{size}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@dataclass
class Work:
    """One inbound message's progress through a batch."""

    triaged: Triaged
    desk: Desk
    author: Author
    duplicate_of: Message | None = None
    # Set when a different message came under an id we know: the id it really carries (its
    # inbound.external_id is then the derived one it is stored under).
    reused_id: str | None = None
    mentions: list[str] = field(default_factory=list)  # ticket numbers it named, not joined
    same_as: Work | None = None  # an earlier copy of the same message in this batch
    parent: Work | None = None  # an earlier message of this batch that this one answers
    ticket: Ticket | None = None
    message_id: int | None = None
    # Rows written in bulk once the batch's tickets have ids (the write_rows step).
    message_values: dict[str, Any] | None = None
    attachment_values: list[dict[str, Any]] = field(default_factory=list)
    suggestion_values: dict[str, Any] | None = None
    audits: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    replies: list[PendingOutbound] = field(default_factory=list)
    created_ticket: bool = False
    due: DueTimes | None = None
    standing: Standing | None = None  # who the sender of a new ticket is (client, representative)
    decision: ReplyDecision | None = None
    refused: bool = False

    @property
    def inbound(self) -> InboundMessage:
        return self.triaged.inbound

    @property
    def prediction(self) -> Prediction:
        return self.triaged.prediction

    @property
    def author_kind(self) -> str:
        return self.author.kind

    @property
    def acknowledged(self) -> bool:
        return self.decision is not None and self.decision.reply

    @cached_property
    def content_digest(self) -> str:
        return content_digest(self.inbound)

    @property
    def sender_message_id(self) -> str | None:
        """The id the sender gave this message (our reply threads under it), None if none."""
        if self.reused_id is not None:
            return self.reused_id
        return self.inbound.external_id if self.inbound.own_id else None

    def store_as(self, external_id: str) -> None:
        """Store this message under ``external_id`` instead of the id it carries."""
        self.reused_id = self.inbound.external_id
        inbound = dataclasses.replace(self.inbound, external_id=external_id)
        self.triaged = dataclasses.replace(self.triaged, inbound=inbound)

    @cached_property
    def referenced_ids(self) -> list[str]:
        """The ids this message names, as recorded in ``message_references``."""
        return repo.referenced_ids(self.inbound.in_reply_to, self.inbound.references)

    def audit(self, action: str, actor: str = "system", **details: Any) -> None:
        """An audit event about this message's ticket, written with the batch."""
        self.audits.append((actor, action, {k: v for k, v in details.items() if v is not None}))

    def result(self) -> IntakeResult:
        if self.same_as is not None:
            return dataclasses.replace(self.same_as.result(), **_DUPLICATE)
        if self.duplicate_of is not None:
            known = self.duplicate_of
            ticket = known.ticket
            return IntakeResult(
                ticket.number, ticket.id, known.id, **_DUPLICATE, category=ticket.category
            )
        assert self.ticket is not None and self.message_id is not None
        return IntakeResult(
            ticket_number=self.ticket.number,
            ticket_id=self.ticket.id,
            message_id=self.message_id,
            created_ticket=self.created_ticket,
            duplicate=False,
            acknowledged=self.acknowledged,
            category=self.ticket.category,
            prediction=self.prediction,
            due=self.due,
            no_ack_reason=self.decision.reason if self.decision else None,
        )


# What a duplicate's result says besides the ticket and message it duplicates.
_DUPLICATE: dict[str, Any] = {
    "created_ticket": False,
    "duplicate": True,
    "acknowledged": False,
    "prediction": None,
    "due": None,
    "no_ack_reason": "duplicate",
}
ArticleLookup = Callable[[Triaged, Desk], tuple[ArticleSuggestion, ...]]


@dataclass
class Batch:
    """One transaction's messages and what the steps share about them."""

    session: Session
    now: dt.datetime  # one instant for the whole batch, from the injected clock
    desks: Desks
    rules: EmailConfig
    policy: ReplyPolicy
    renderer: TemplateRenderer
    sender_name: str
    semantic_stage: str  # see ServiceConfig.semantic_stage
    articles: ArticleLookup  # suggestions triage did not look up ahead
    works: list[Work]
    fresh: list[Work] = field(default_factory=list)  # not duplicates: what is stored
    opening: list[Work] = field(default_factory=list)  # those that open a ticket
    requesters: dict[tuple[str, str], repo.SenderRow] = field(default_factory=dict)
    # New tickets as inserted (status, first response), so later changes are updated.
    inserted: list[tuple[Ticket, TicketStatus, dt.datetime | None]] = field(default_factory=list)
    budget: ReplyBudget | None = None
    # Tickets whose SLA legs change (a first staff answer, a reopening), by object; the ids
    # of those reopened, whose legs start a new round (``storage/sla_legs.py``).
    legs_changed: dict[int, Ticket] = field(default_factory=dict)
    reopened: set[int] = field(default_factory=set)
    held: dict[str, list[Work]] = field(default_factory=dict)  # desk: over its limits

    def requester(self, work: Work) -> repo.SenderRow:
        return self.requesters[(work.inbound.channel, work.inbound.sender)]
