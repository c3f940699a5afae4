"""A chat that refuses our messages (the person blocked the bot, or deleted their account):
marked undeliverable as a bouncing mail address is, the ticket kept, staff told.

The same mark as a bounce sets (``requester_addresses.undeliverable``, keyed by channel and
chat id): ``triage address list`` shows it, ``triage address clear --channel telegram``
lifts it, and nothing more is sent to the chat meanwhile. Staff get the notice at the desk's
``staff_address`` (mail), once per marking, in our own words.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from triage_desk.desks import Desks
from triage_desk.responders.outbox import base_context, dedupe_key, queue_outbound
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import AuditEvent, OutboxItem, Ticket


def is_undeliverable(session: Session, channel: str, chat: str) -> str | None:
    """The reason the chat is marked undeliverable, None if it is not."""
    row = repo.find_requester_address(session, channel, chat)
    if row is None or not row.undeliverable:
        return None
    return row.undeliverable_reason or "marked undeliverable"


def mark_chat_undeliverable(
    session: Session,
    *,
    item: OutboxItem,
    reason: str,
    desks: Desks,
    renderer: TemplateRenderer,
    sender_name: str,
    now: dt.datetime,
) -> bool:
    """Mark the item's chat and tell staff; False if it was marked already (no second
    notice) or the chat is not one we know."""
    channel, chat = item.channel, item.recipient
    if is_undeliverable(session, channel, chat) is not None:
        return False
    ticket = session.get(Ticket, item.ticket_id) if item.ticket_id else None
    if ticket is None:  # an answer to a command: staff still hear of the chat's open ticket
        ticket = _open_ticket(session, desks, item)
    where = f" on {ticket.number}" if ticket else ""
    if not repo.mark_undeliverable(session, channel, chat, f"{reason}{where}", now):
        return False
    session.add(
        AuditEvent(
            at=now,
            actor="dispatcher",
            action="chat_undeliverable",
            ticket_id=ticket.id if ticket else None,
            details={"channel": channel, "chat": chat, "reason": reason, "outbox_id": item.id},
        )
    )
    desk = desks.by_name.get(ticket.desk) if ticket else None
    staff = desk.config.staff_address if desk else None
    if ticket is None or desk is None or not staff:
        return True  # marked and audited; no mailbox to tell
    language = desk.config.default_language
    context = {
        **base_context(desk, ticket, language),
        "chat": chat,
        "affected_ticket_numbers": repo.open_ticket_numbers_for(session, [chat]),
    }
    queue_outbound(
        session,
        desk=desk,
        ticket=ticket,
        kind="chat_undeliverable_notice",
        rendered=renderer.render("chat_undeliverable_notice", desk.name, language, context),
        recipient=staff,
        channel="email",  # staff notice mailboxes are mail addresses
        key=dedupe_key("chat_undeliverable", channel, chat, item.id),
        now=now,
        sender_name=sender_name,
    )
    return True


def _open_ticket(session: Session, desks: Desks, item: OutboxItem) -> Ticket | None:
    """The chat's newest unresolved ticket at the desk whose bot sent ``item``, if any."""
    desk = desks.for_address(item.sender)
    numbers = repo.open_ticket_numbers_for(session, [item.recipient])
    for number in reversed(numbers):
        ticket = repo.ticket_by_number(session, number)
        if ticket is not None and desk is not None and ticket.desk == desk.name:
            return ticket
    return None
