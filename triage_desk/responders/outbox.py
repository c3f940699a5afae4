"""Queueing an outbound message: our Message record and its outbox item, one transaction.

Every reply the desk sends (acknowledgement, refusal, notice, staff reply) goes through
``queue_outbound`` inside the caller's transaction, so the change that caused it and the
message itself are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from triage_desk.desks import Desk
from triage_desk.responders.localtime import format_local
from triage_desk.responders.render import Rendered
from triage_desk.storage.models import (
    Direction,
    Message,
    OutboxItem,
    OutboxStatus,
    Ticket,
)


def new_reference(desk: Desk, ticket_number: str) -> str:
    """Our own id for an outbound message, fixed before sending so a resend reuses it. It
    is unique and has the form of a Message-ID (the email sender sends it as one)."""
    domain = desk.address.split("@", 1)[1]
    return f"{uuid.uuid4().hex}.{ticket_number.lower()}@{domain}"


EMAIL_CHANNEL = "email"
# The person's subject as our replies echo it: long enough to recognise, never a wall of text.
MAX_ECHOED_SUBJECT = 200


def recipient_key(channel: str, address: str) -> str:
    """The recipient as the per-sender limit counts it: ``victim+1@x`` is ``victim@x``, so
    plus-addresses do not each get a fresh allowance."""
    if channel != "email" or "@" not in address:
        return address
    local, domain = address.rsplit("@", 1)
    return f"{local.split('+', 1)[0] or local}@{domain}".lower()


def echoed_subject(subject: str) -> str:
    """A subject fit to repeat in our own Subject line and letters: control and format
    characters (NUL, ESC, BEL, bidi overrides) gone, whitespace single, at most
    ``MAX_ECHOED_SUBJECT`` characters."""
    kept = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in subject
        if unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn")
    )
    text = " ".join(kept.split())
    if len(text) > MAX_ECHOED_SUBJECT:
        text = text[: MAX_ECHOED_SUBJECT - 1].rstrip() + "…"
    return text


def dedupe_key(kind: str, *parts: object) -> str:
    """A stable key that makes one logical message a single outbox item."""
    digest = hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:40]
    return f"{kind}:{digest}"


def base_context(desk: Desk, ticket: Ticket, language: str) -> dict[str, Any]:
    """What every template receives (see the template contract in the README)."""
    calendar = desk.config.calendar
    return {
        "ticket_number": ticket.number,
        "desk": desk.name,
        "desk_name": desk.config.name,
        "subject": echoed_subject(ticket.subject or ""),
        "language": language,
        "opening_hours_text": f"{calendar.open:%H:%M}–{calendar.close:%H:%M}",
        "contacts": dict(desk.config.contacts),
        # A reply to a chat is no letter and has no subject line to keep a number in: the
        # templates word it so. Email is the one channel of letters; a chat is any other.
        "to_chat": ticket.channel is not None and ticket.channel != EMAIL_CHANNEL,
    }


def local_text(desk: Desk, instant: dt.datetime | None, language: str) -> str | None:
    return format_local(instant, desk.calendar.zone, language) if instant else None


def last_inbound(ticket: Ticket) -> Message | None:
    inbound = [m for m in ticket.messages if m.direction == Direction.INBOUND]
    return inbound[-1] if inbound else None


@dataclass(frozen=True)
class PendingOutbound:
    """One reply ready to be written: our Message row and its outbox item, as column values
    (the ticket's id is filled in when they are inserted)."""

    ticket: Ticket
    message: dict[str, Any]
    item: dict[str, Any]


def prepare_outbound(
    *,
    desk: Desk,
    ticket: Ticket,
    kind: str,
    rendered: Rendered,
    recipient: str,
    channel: str,
    key: str,
    now: dt.datetime,
    sender_name: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    author_kind: str = "desk",
    automatic: bool = True,
) -> PendingOutbound:
    reference = new_reference(desk, ticket.number)
    message = {
        "direction": Direction.OUTBOUND,
        "channel": channel,
        # Where a bounce that names this message finds it (steps/record_bounces).
        "external_id": reference,
        "in_reply_to": in_reply_to,
        "references": [],
        "sender": desk.address,
        "recipients": [recipient],
        "subject": rendered.subject,
        "text": rendered.text,
        "new_text": rendered.text,
        "headers": {},
        "language": ticket.language,
        "received_at": now,
        "author_kind": author_kind,
    }
    item = {
        "dedupe_key": key,
        "kind": kind,
        "channel": channel,
        "sender": desk.address,
        "recipient": recipient,
        "recipient_key": recipient_key(channel, recipient),
        "subject": rendered.subject,
        "body_text": rendered.text,
        # Channel-neutral: each channel's sender makes its own threading of these
        # (responders/email_sender.py: Message-ID, In-Reply-To, References, RFC 3834).
        "headers": {
            "reference": reference,
            "in_reply_to": in_reply_to,
            "references": list(references),
            "automatic": automatic,
            "sender_name": sender_name,
        },
        "status": OutboxStatus.PENDING,
        "created_at": now,
        "next_attempt_at": now,
    }
    return PendingOutbound(ticket, message, item)


def write_outbound(session: Session, pending: Sequence[PendingOutbound]) -> None:
    """Insert the replies in two statements (messages, then outbox items), whatever their
    number: a batch of a thousand acknowledgements costs about what one does."""
    if not pending:
        return
    if any(p.ticket.id is None for p in pending):
        session.flush()  # new tickets get their ids
    messages = Message.__table__
    message_ids = session.scalars(
        insert(messages).returning(messages.c.id, sort_by_parameter_order=True),
        [{**p.message, "ticket_id": p.ticket.id} for p in pending],
    ).all()
    session.execute(
        insert(OutboxItem.__table__),
        [
            {**p.item, "ticket_id": p.ticket.id, "message_id": message_id}
            for p, message_id in zip(pending, message_ids, strict=True)
        ],
    )


def queue_outbound(session: Session, **fields: Any) -> None:
    """Prepare and write one reply (see ``prepare_outbound`` for the fields)."""
    write_outbound(session, [prepare_outbound(**fields)])
