"""What the desk service answers: plain frozen values, no ORM objects, no presentation.

Times of a ticket are aware datetimes in its desk's zone (``isoformat()`` gives the local
time with its offset); times that belong to no desk (outbox, quarantine, address marks) are
UTC. Text from mail is as stored: a front end makes it safe for its medium.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AddressView:
    address: str
    channel: str
    undeliverable: bool = False
    undeliverable_reason: str | None = None  # our words: status code, ticket
    undeliverable_at: dt.datetime | None = None  # UTC


@dataclass(frozen=True)
class RequesterView:
    display_name: str | None
    addresses: tuple[AddressView, ...]
    client: str | None  # the organisation the ticket was counted for
    representative: bool  # a designated representative of that client (terms clause 28)


@dataclass(frozen=True)
class TicketSummary:
    number: str
    desk: str
    status: str
    category: str
    feedback_type: str
    category_confirmed: bool
    urgent: bool
    confidence: float | None  # the first suggestion's
    sender: str  # the requester's first address
    subject: str
    received_at: dt.datetime
    clock_start: dt.datetime
    response_due: dt.datetime | None
    resolution_due: dt.datetime | None
    first_response_at: dt.datetime | None
    overdue: bool  # response due passed with no first response
    needs_review: bool  # category neither confirmed nor auto-accepted, or refined otherwise
    model_version: str | None = None  # the newest suggestion's model
    feedback_confidence: float | None = None  # the first suggestion's
    assignee: str | None = None  # a console user's login


@dataclass(frozen=True)
class AttachmentView:
    id: int
    filename: str
    content_type: str
    size: int
    md5: str
    inline: bool
    content_id: str | None
    stored: bool  # the bytes are kept (over the size limit only the metadata is)
    dropped_reason: str | None


@dataclass(frozen=True)
class MessageEditView:
    """The person changed the message's text (a chat edit): when, and what it said before."""

    edited_at: dt.datetime  # in the desk's zone
    text_before: str  # "" when a newer edit came first (its order is by edited_at)
    text_after: str


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: str  # "in" or "out"
    channel: str
    sender: str
    sender_name: str | None
    recipients: tuple[str, ...]
    subject: str
    text: str
    received_at: dt.datetime
    author_kind: str  # person, staff, robot, desk
    external_id: str
    attachments: tuple[AttachmentView, ...] = ()
    outbox_kind: str | None = None  # ours: acknowledgement, staff_reply, resolution, ...
    outbox_status: str | None = None  # ours: pending, sent, dead, suppressed
    edits: tuple[MessageEditView, ...] = ()  # oldest first; the text above is the latest


@dataclass(frozen=True)
class SuggestionView:
    category: str
    feedback_type: str
    confidence: float
    category_confidence: float
    feedback_confidence: float
    auto_accept: bool
    model_version: str
    stage: str  # "fast" or "semantic"
    pending_refinement: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class DecisionView:
    field: str  # "category" or "feedback_type"
    from_value: str
    to_value: str
    staff: str
    reason: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class AuditView:
    at: dt.datetime
    actor: str
    action: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LegView:
    """One service-level leg of the ticket (``sla.legs``): due, met, and whether it is late
    by the one rule every report uses. Times in the desk's zone."""

    leg: str  # "response" or "resolution"
    round: int  # 1, then one more per reopening
    category: str
    due_at: dt.datetime
    done_at: dt.datetime | None
    late: bool
    late_by: dt.timedelta | None  # how late it was met, or how far past due while unmet


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    text: str
    created_at: dt.datetime


@dataclass(frozen=True)
class StoredFile:
    """Bytes a front end offers as a download (raw mail, an attachment), never renders."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class TicketDetail:
    summary: TicketSummary
    channel: str
    language: str
    resolved_at: dt.datetime | None
    requester: RequesterView
    messages: tuple[MessageView, ...]  # the thread across channels, oldest first
    suggestions: tuple[SuggestionView, ...]
    decisions: tuple[DecisionView, ...]
    audit: tuple[AuditView, ...]
    notes: tuple[NoteView, ...] = ()  # internal: never sent to the requester
    legs: tuple[LegView, ...] = ()  # response and resolution, round by round


@dataclass(frozen=True)
class OutboxView:
    id: int
    status: str
    kind: str
    ticket_number: str | None
    channel: str
    recipient: str
    subject: str
    attempts: int
    created_at: dt.datetime  # UTC
    next_attempt_at: dt.datetime  # UTC
    last_error: str | None


@dataclass(frozen=True)
class QuarantineView:
    id: int
    status: str  # held, released, discarded
    channel: str
    source: str
    desk: str | None
    received_at: dt.datetime  # UTC
    reason: str
    detail: str
    attempts: int
    sender: str  # what the mail's From says ("?" when it cannot be read)
    subject: str
    size: int
    ticket_number: str | None = None  # released: the ticket it became
    discarded_by: str | None = None
    discarded_at: dt.datetime | None = None
    discard_reason: str | None = None
    raw: bytes | None = None  # only when one mail is shown


@dataclass(frozen=True)
class ActionResult:
    ticket_number: str | None
    status: str  # the ticket's (or outbox item's, quarantined mail's) status afterwards
    message: str  # one line for the person who acted
    outbox_kind: str | None = None  # the message the action queued, if any


__all__ = [
    "ActionResult",
    "AddressView",
    "AttachmentView",
    "AuditView",
    "DecisionView",
    "MessageEditView",
    "MessageView",
    "NoteView",
    "OutboxView",
    "QuarantineView",
    "RequesterView",
    "StoredFile",
    "SuggestionView",
    "TicketDetail",
    "TicketSummary",
]


@dataclass(frozen=True)
class AssistantFigures:
    """What the virtual assistant did in a desk's chats over a period (whole local days)."""

    desk: str
    start: dt.date
    end: dt.date  # inclusive
    offers: int  # knowledge-base answers given, each asking "Did this help?"
    declined: int  # questions it had no confident answer to (it said so, and when staff answer)
    helped: int  # answers the person said helped
    not_helped: int  # answers the person said did not help: handed to staff
    no_feedback: int  # answers nobody said anything about
    handoffs: int  # declined + not_helped: questions passed to staff
    helped_percent: float | None  # helped of the answers the person rated; None: none rated


@dataclass(frozen=True)
class LateShareRow:
    """One category's year (terms clause 37): cases, late ones, and the share allowed."""

    category: str
    cases: int  # tickets of the category received in the year (not robot mail, not refused)
    late_response: int  # cases whose response leg is late (any round)
    late_resolution: int  # cases whose resolution leg is late (any round)
    late: int  # cases late on either leg, each counted once
    late_percent: float | None  # of the cases, one decimal; None: no cases
    allowed_percent: float | None  # CategoryConfig.allowed_late_share; None: no limit set
    within: bool | None  # late share ≤ allowed; None when either is missing


@dataclass(frozen=True)
class LateShareReport:
    desk: str
    year: int
    as_of: dt.datetime  # the "now" an unmet leg's due time is compared with (UTC)
    rows: tuple[LateShareRow, ...]


@dataclass(frozen=True)
class FeedbackReport:
    """Tickets by feedback type and month of receipt (customer-service standard IV)."""

    desk: str
    year: int
    types: tuple[str, ...]  # the desk's feedback types, in configuration order
    counts: tuple[tuple[int, ...], ...]  # 12 months × types
    totals: tuple[int, ...]  # per type, the year


@dataclass(frozen=True)
class TriageQualityRow:
    """Intake's suggestions of one category by one model version, and what became of them."""

    category: str  # the category suggested
    model_version: str
    suggestions: int  # tickets whose first suggestion it was
    auto_accepted: int  # auto-accepted by intake and never changed by staff
    confirmed: int  # not auto-accepted; staff confirmed it unchanged
    changed: int  # staff put the ticket in another category
    auto_accepted_percent: float | None
    changed_percent: float | None


@dataclass(frozen=True)
class TriageQualityReport:
    desk: str
    year: int
    rows: tuple[TriageQualityRow, ...]


@dataclass(frozen=True)
class CallLogged:
    """A phone call staff logged: queued (channel "phone"); the queue runner numbers its
    ticket, whose due times count from ``received_at``, the call."""

    desk: str
    queue_id: int
    external_id: str  # the stored message's id, to find its ticket once stored
    address: str
    received_at: dt.datetime  # UTC
    staff: str


@dataclass(frozen=True)
class FormArticleFigures:
    slug: str
    offers: int  # times the public form suggested it while someone typed
    clicks: int  # times it was opened from there


@dataclass(frozen=True)
class FormSuggestionFigures:
    """The public form's knowledge-base suggestions of a desk over whole local days."""

    desk: str
    start: dt.date
    end: dt.date  # inclusive
    articles: tuple[FormArticleFigures, ...]
    offers: int
    clicks: int
