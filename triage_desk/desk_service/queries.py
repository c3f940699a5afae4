"""What staff look at: the work queue, one ticket whole, the outbox, quarantine, bounces.

Each function reads in the session it is given and returns plain values (``results``); none
writes. "Overdue" and "needs review" are written once, as SQL, so the list's filters and its
markers can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, not_, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from triage_desk.desk_service.errors import InvalidInput, NotFound
from triage_desk.desk_service.results import (
    AddressView,
    AttachmentView,
    AuditView,
    DecisionView,
    LegView,
    MessageEditView,
    MessageView,
    NoteView,
    OutboxView,
    QuarantineView,
    RequesterView,
    StoredFile,
    SuggestionView,
    TicketDetail,
    TicketSummary,
)
from triage_desk.desks import Desks
from triage_desk.sla.legs import Leg, is_late
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import (
    AuditEvent,
    Decision,
    Membership,
    Message,
    MessageEdit,
    OutboxItem,
    OutboxStatus,
    QuarantinedMail,
    QuarantineStatus,
    Requester,
    RequesterAddress,
    SlaLeg,
    StoredAttachment,
    Suggestion,
    Ticket,
    TicketNote,
    TicketStatus,
)

TICKET_STATUSES = tuple(s.value for s in TicketStatus)
OUTBOX_STATUSES = tuple(s.value for s in OutboxStatus)
# Statuses with no work left on them: never overdue, never waiting for a review.
_SETTLED = (TicketStatus.RESOLVED, TicketStatus.ROBOT)


@dataclass(frozen=True)
class TicketFilter:
    """Which tickets, in which order. Robot mail only when ``status`` asks for it."""

    desk: str | None = None
    status: str | None = None
    overdue: bool = False  # response due passed, no first response
    due_within: dt.timedelta | None = None  # no first response, response due by now + this
    needs_review: bool = False
    newest_first: bool = False  # default: response due first (tickets with none last)
    limit: int = 50
    statuses: tuple[str, ...] = ()  # any of these (with ``status``: both must hold)


def overdue_condition(now: dt.datetime) -> ColumnElement[bool]:
    return and_(
        Ticket.status.not_in(_SETTLED),
        Ticket.first_response_at.is_(None),
        Ticket.response_due.is_not(None),
        Ticket.response_due < now,
    )


def needs_review_condition() -> ColumnElement[bool]:
    """The category waits for staff: neither confirmed by them nor auto-accepted, or the
    semantic stage suggested another category after the last staff decision on it."""
    refined = aliased(Suggestion)
    decided = aliased(Decision)
    disagrees = exists().where(
        refined.ticket_id == Ticket.id,
        refined.stage == "semantic",
        refined.category != Ticket.category,
        not_(
            exists().where(
                decided.ticket_id == refined.ticket_id,
                decided.field == "category",
                decided.created_at >= refined.created_at,
            )
        ),
    )
    return and_(
        Ticket.status.not_in(_SETTLED), or_(Ticket.category_confirmed.is_(False), disagrees)
    )


def _flag(condition: ColumnElement[bool]) -> Any:
    return case((condition, 1), else_=0)


def check_filter(desks: Desks, wanted: TicketFilter) -> None:
    if wanted.desk is not None and wanted.desk not in desks.by_name:
        raise InvalidInput("desk", f"unknown desk {wanted.desk!r}", wanted.desk, desks.by_name)
    if wanted.status is not None and wanted.status not in TICKET_STATUSES:
        raise InvalidInput(
            "status", f"unknown status {wanted.status!r}", wanted.status, TICKET_STATUSES
        )
    for status in wanted.statuses:
        if status not in TICKET_STATUSES:
            raise InvalidInput("statuses", f"unknown status {status!r}", status, TICKET_STATUSES)
    if wanted.limit < 1:
        raise InvalidInput("limit", f"the limit must be at least 1, not {wanted.limit}")
    if wanted.due_within is not None and wanted.due_within < dt.timedelta(0):
        raise InvalidInput("due_within", "the time ahead cannot be negative", wanted.due_within)


def list_tickets(
    session: Session, desks: Desks, wanted: TicketFilter, now: dt.datetime
) -> list[TicketSummary]:
    check_filter(desks, wanted)
    overdue, review = overdue_condition(now), needs_review_condition()
    query = select(Ticket, _flag(overdue), _flag(review)).options(
        selectinload(Ticket.requester).selectinload(Requester.addresses),
        selectinload(Ticket.suggestions),
    )
    if wanted.desk:
        query = query.where(Ticket.desk == wanted.desk)
    if wanted.status:
        query = query.where(Ticket.status == wanted.status)
    elif not wanted.statuses:
        query = query.where(Ticket.status != TicketStatus.ROBOT)
    if wanted.statuses:
        query = query.where(Ticket.status.in_(wanted.statuses))
    if wanted.overdue:
        query = query.where(overdue)
    if wanted.due_within is not None:
        query = query.where(
            Ticket.status.not_in(_SETTLED),
            Ticket.first_response_at.is_(None),
            Ticket.response_due <= now + wanted.due_within,
        )
    if wanted.needs_review:
        query = query.where(review)
    if wanted.newest_first:
        query = query.order_by(Ticket.id.desc())
    else:
        query = query.order_by(Ticket.response_due.asc().nulls_last(), Ticket.id)
    rows = session.execute(query.limit(wanted.limit)).all()
    return [_summary(desks, ticket, bool(late), bool(review)) for ticket, late, review in rows]


def _zone(desks: Desks, desk: str) -> dt.tzinfo:
    found = desks.by_name.get(desk)
    return found.calendar.zone if found else dt.UTC  # a desk since removed from the config


def _local(instant: dt.datetime | None, zone: dt.tzinfo) -> Any:
    return instant.astimezone(zone) if instant is not None else None


def _summary(desks: Desks, ticket: Ticket, overdue: bool, review: bool) -> TicketSummary:
    zone = _zone(desks, ticket.desk)
    addresses = ticket.requester.addresses
    first = ticket.suggestions[0] if ticket.suggestions else None
    return TicketSummary(
        number=ticket.number,
        desk=ticket.desk,
        status=ticket.status,
        category=ticket.category,
        feedback_type=ticket.feedback_type,
        category_confirmed=ticket.category_confirmed,
        urgent=ticket.urgent,
        confidence=first.confidence if first else None,
        sender=addresses[0].address if addresses else "",
        subject=ticket.subject,
        received_at=_local(ticket.received_at, zone),
        clock_start=_local(ticket.clock_start, zone),
        response_due=_local(ticket.response_due, zone),
        resolution_due=_local(ticket.resolution_due, zone),
        first_response_at=_local(ticket.first_response_at, zone),
        overdue=overdue,
        needs_review=review,
        model_version=ticket.suggestions[-1].model_version if ticket.suggestions else None,
        feedback_confidence=first.feedback_confidence if first else None,
        assignee=ticket.assignee,
    )


def normalise_number(number: str) -> str:
    return number.strip().upper()


def ticket_detail(session: Session, desks: Desks, number: str, now: dt.datetime) -> TicketDetail:
    """One ticket whole: the thread with attachment metadata (never their bytes), the
    suggestions, decisions and audit trail, and who the requester is."""
    found = session.execute(
        select(Ticket, _flag(overdue_condition(now)), _flag(needs_review_condition()))
        .options(
            selectinload(Ticket.requester).selectinload(Requester.addresses),
            selectinload(Ticket.suggestions),
            selectinload(Ticket.decisions),
            selectinload(Ticket.client),
        )
        .where(Ticket.number == normalise_number(number))
    ).first()
    if found is None:
        raise NotFound("ticket", number)
    ticket, late, review = found
    zone = _zone(desks, ticket.desk)
    return TicketDetail(
        summary=_summary(desks, ticket, bool(late), bool(review)),
        channel=ticket.channel,
        language=ticket.language,
        resolved_at=_local(ticket.resolved_at, zone),
        requester=_requester(session, ticket),
        messages=tuple(_thread(session, ticket, zone)),
        suggestions=tuple(
            SuggestionView(
                category=s.category,
                feedback_type=s.feedback_type,
                confidence=s.confidence,
                category_confidence=s.category_confidence,
                feedback_confidence=s.feedback_confidence,
                auto_accept=s.auto_accept,
                model_version=s.model_version,
                stage=s.stage,
                pending_refinement=s.needs_refinement,
                created_at=_local(s.created_at, zone),
            )
            for s in ticket.suggestions
        ),
        decisions=tuple(
            DecisionView(
                field=d.field,
                from_value=d.from_value,
                to_value=d.to_value,
                staff=d.staff,
                reason=d.reason,
                created_at=_local(d.created_at, zone),
            )
            for d in ticket.decisions
        ),
        audit=tuple(
            AuditView(at=_local(e.at, zone), actor=e.actor, action=e.action, details=e.details)
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.ticket_id == ticket.id).order_by(AuditEvent.id)
            )
        ),
        notes=tuple(
            NoteView(n.id, n.author, n.text, _local(n.created_at, zone))
            for n in session.scalars(
                select(TicketNote).where(TicketNote.ticket_id == ticket.id).order_by(TicketNote.id)
            )
        ),
        legs=tuple(_leg_view(leg, zone, now) for leg in _legs(session, ticket.id)),
    )


def _legs(session: Session, ticket_id: int) -> list[SlaLeg]:
    order = case((SlaLeg.leg == Leg.RESPONSE.value, 0), else_=1)
    return list(
        session.scalars(
            select(SlaLeg).where(SlaLeg.ticket_id == ticket_id).order_by(SlaLeg.round, order)
        )
    )


def _leg_view(leg: SlaLeg, zone: dt.tzinfo, now: dt.datetime) -> LegView:
    late = is_late(leg.due_at, leg.done_at, now)
    return LegView(
        leg=leg.leg,
        round=leg.round,
        category=leg.category,
        due_at=_local(leg.due_at, zone),
        done_at=_local(leg.done_at, zone),
        late=late,
        late_by=((leg.done_at or now) - leg.due_at) if late else None,
    )


def _requester(session: Session, ticket: Ticket) -> RequesterView:
    representative = False
    if ticket.client_id is not None:
        representative = bool(
            session.scalar(
                select(Membership.is_representative).where(
                    Membership.requester_id == ticket.requester_id,
                    Membership.client_id == ticket.client_id,
                )
            )
        )
    return RequesterView(
        display_name=ticket.requester.display_name,
        addresses=tuple(_address(a) for a in ticket.requester.addresses),
        client=ticket.client.name if ticket.client else None,
        representative=representative,
    )


def _address(row: RequesterAddress) -> AddressView:
    return AddressView(
        address=row.address,
        channel=row.channel,
        undeliverable=row.undeliverable,
        undeliverable_reason=row.undeliverable_reason,
        undeliverable_at=row.undeliverable_at,
    )


def _thread(session: Session, ticket: Ticket, zone: dt.tzinfo) -> list[MessageView]:
    """Every message of the ticket in the order stored, with our outbox item's kind and
    status beside what we sent. The raw bytes and attachment contents stay in the database."""
    messages = session.execute(
        select(
            Message.id,
            Message.direction,
            Message.channel,
            Message.sender,
            Message.sender_name,
            Message.recipients,
            Message.subject,
            Message.text,
            Message.received_at,
            Message.author_kind,
            Message.external_id,
            OutboxItem.kind,
            OutboxItem.status,
        )
        .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
        .where(Message.ticket_id == ticket.id)
        .order_by(Message.id)
    ).all()
    attachments: dict[int, list[AttachmentView]] = {}
    for row in session.execute(
        select(
            StoredAttachment.id,
            StoredAttachment.message_id,
            StoredAttachment.filename,
            StoredAttachment.content_type,
            StoredAttachment.size,
            StoredAttachment.md5,
            StoredAttachment.inline,
            StoredAttachment.content_id,
            StoredAttachment.data.is_not(None),
            StoredAttachment.dropped_reason,
        )
        .where(StoredAttachment.message_id.in_([m.id for m in messages]))
        .order_by(StoredAttachment.id)
    ):
        attachment_id, message_id, *rest = row
        attachments.setdefault(message_id, []).append(
            AttachmentView(attachment_id, *rest[:6], bool(rest[6]), rest[7])
        )
    edits: dict[int, list[MessageEditView]] = {}
    for edit in session.scalars(
        select(MessageEdit)
        .where(MessageEdit.message_id.in_([m.id for m in messages]))
        .order_by(MessageEdit.edited_at, MessageEdit.id)
    ):
        edits.setdefault(edit.message_id, []).append(
            MessageEditView(edit.edited_at.astimezone(zone), edit.text_before, edit.text_after)
        )
    return [
        MessageView(
            id=m.id,
            direction=m.direction,
            channel=m.channel,
            sender=m.sender,
            sender_name=m.sender_name,
            recipients=tuple(m.recipients or ()),
            subject=m.subject,
            text=m.text,
            received_at=m.received_at.astimezone(zone),
            author_kind=m.author_kind,
            external_id=m.external_id,
            attachments=tuple(attachments.get(m.id, ())),
            outbox_kind=m.kind,
            outbox_status=m.status,
            edits=tuple(edits.get(m.id, ())),
        )
        for m in messages
    ]


def outbox_items(session: Session, status: str | None, limit: int) -> list[OutboxView]:
    """Newest first."""
    if status is not None and status not in OUTBOX_STATUSES:
        raise InvalidInput("status", f"unknown outbox status {status!r}", status, OUTBOX_STATUSES)
    if limit < 1:
        raise InvalidInput("limit", f"the limit must be at least 1, not {limit}")
    query = (
        select(OutboxItem, Ticket.number)
        .outerjoin(Ticket, OutboxItem.ticket_id == Ticket.id)
        .order_by(OutboxItem.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(OutboxItem.status == status)
    return [_outbox(item, number) for item, number in session.execute(query)]


def _outbox(item: OutboxItem, number: str | None) -> OutboxView:
    return OutboxView(
        id=item.id,
        status=item.status,
        kind=item.kind,
        ticket_number=number,
        channel=item.channel,
        recipient=item.recipient,
        subject=item.subject,
        attempts=item.attempts,
        created_at=item.created_at,
        next_attempt_at=item.next_attempt_at,
        last_error=item.last_error,
    )


def outbox_item(session: Session, item_id: int) -> OutboxView:
    found = session.execute(
        select(OutboxItem, Ticket.number)
        .outerjoin(Ticket, OutboxItem.ticket_id == Ticket.id)
        .where(OutboxItem.id == item_id)
    ).first()
    if found is None:
        raise NotFound("outbox item", item_id)
    return _outbox(*found)


def quarantined(session: Session, include_all: bool = False) -> list[QuarantineView]:
    """Held mail, oldest first; ``include_all`` adds mail released or discarded."""
    query = (
        select(QuarantinedMail, Ticket.number)
        .outerjoin(Ticket, QuarantinedMail.ticket_id == Ticket.id)
        .order_by(QuarantinedMail.id)
    )
    if not include_all:
        query = query.where(QuarantinedMail.status == QuarantineStatus.HELD)
    return [_quarantine(item, number) for item, number in session.execute(query)]


def quarantined_mail(session: Session, quarantine_id: int) -> QuarantineView:
    """One quarantined mail with its raw bytes."""
    found = session.execute(
        select(QuarantinedMail, Ticket.number)
        .outerjoin(Ticket, QuarantinedMail.ticket_id == Ticket.id)
        .where(QuarantinedMail.id == quarantine_id)
    ).first()
    if found is None:
        raise NotFound("quarantined mail", quarantine_id, f"no quarantined mail #{quarantine_id}")
    item, number = found
    return _quarantine(item, number, with_raw=True)


def _quarantine(
    item: QuarantinedMail, number: str | None, with_raw: bool = False
) -> QuarantineView:
    sender, subject = headline(item.raw)
    return QuarantineView(
        id=item.id,
        status=item.status,
        channel=item.channel,
        source=item.source,
        desk=item.desk,
        received_at=item.received_at,
        reason=item.reason,
        detail=item.detail,
        attempts=item.attempts,
        sender=sender,
        subject=subject,
        size=len(item.raw),
        ticket_number=number,
        discarded_by=item.discarded_by,
        discarded_at=item.discarded_at,
        discard_reason=item.discard_reason,
        raw=item.raw if with_raw else None,
    )


def headline(raw: bytes) -> tuple[str, str]:
    """From and Subject of a mail that may not parse (its first 64 KiB are read): ("?", "?")
    when they cannot be read."""
    from triage_desk.intake.email.parse import parse_bytes, safe_header

    try:
        message = parse_bytes(raw[:65536])
        return safe_header(message, "From"), safe_header(message, "Subject")
    except Exception:
        return "?", "?"


def _ticket_message(session: Session, number: str, message_id: int) -> Message:
    message = session.scalar(
        select(Message)
        .join(Ticket, Message.ticket_id == Ticket.id)
        .where(Ticket.number == normalise_number(number), Message.id == message_id)
    )
    if message is None:
        raise NotFound("message", message_id, f"{number} has no message #{message_id}")
    return message


def message_raw(session: Session, number: str, message_id: int) -> StoredFile:
    """A message of the ticket as it arrived (a mail's bytes), for download only."""
    message = _ticket_message(session, number, message_id)
    if message.raw is None:
        raise NotFound("raw message", message_id, f"message #{message_id} has no raw bytes kept")
    kind = "message/rfc822" if message.channel == "email" else "application/octet-stream"
    extension = "eml" if message.channel == "email" else "bin"
    return StoredFile(f"{normalise_number(number)}-{message_id}.{extension}", kind, message.raw)


MAX_HTML_CHARS = 2_000_000  # a longer HTML body is cut: shown for reading, never re-sent


def message_html(session: Session, number: str, message_id: int) -> str | None:
    """The first text/html part of a mail as it came (hostile: a front end sanitises it),
    or None when the mail had none. Bodies over ``MAX_HTML_CHARS`` are cut."""
    from triage_desk.intake.email.parse import parse_bytes

    message = _ticket_message(session, number, message_id)
    if message.channel != "email" or not message.raw:
        return None
    try:
        parsed = parse_bytes(message.raw)
        for part in parsed.walk():
            if part.get_content_type() == "text/html" and not part.is_attachment():
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                charset = part.get_content_charset() or "utf-8"
                try:
                    return data.decode(charset, errors="replace")[:MAX_HTML_CHARS]
                except LookupError:  # a charset Python does not know
                    return data.decode("utf-8", errors="replace")[:MAX_HTML_CHARS]
    except Exception:  # a mail that does not parse has its text shown, and its raw download
        return None
    return None


def attachment_file(session: Session, number: str, attachment_id: int) -> StoredFile:
    row = session.execute(
        select(StoredAttachment)
        .join(Message, StoredAttachment.message_id == Message.id)
        .join(Ticket, Message.ticket_id == Ticket.id)
        .where(Ticket.number == normalise_number(number), StoredAttachment.id == attachment_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("attachment", attachment_id)
    if row.data is None:
        raise NotFound(
            "attachment", attachment_id, f"attachment #{attachment_id}: only its metadata is kept"
        )
    return StoredFile(row.filename, row.content_type, row.data)


def undeliverable_addresses(session: Session) -> list[AddressView]:
    """Addresses a bounce of our own mail marked, most recently marked first."""
    return [_address(row) for row in repo.undeliverable_addresses(session)]


__all__ = [
    "OUTBOX_STATUSES",
    "TICKET_STATUSES",
    "TicketFilter",
    "attachment_file",
    "headline",
    "list_tickets",
    "message_html",
    "message_raw",
    "needs_review_condition",
    "outbox_item",
    "outbox_items",
    "overdue_condition",
    "quarantined",
    "quarantined_mail",
    "ticket_detail",
    "undeliverable_addresses",
]
