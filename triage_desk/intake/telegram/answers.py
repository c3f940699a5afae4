"""What the bot says to a command that makes no ticket, in the person's language: the one
chosen with ``/lang``, else the app's (``language_code``), else the desk's.

``/start`` and ``/help`` greet (``/start <token>`` links the chat to a known requester,
``storage.links``), ``/status`` lists the chat's person's open tickets, a bare ``/new`` says
how, ``/lang`` chooses the language of every later reply, ``/link`` links by a mailed code
(``link_by_email``), ``/unlink`` undoes a link.

The answer is an outbox item written in the transaction that takes the update off the queue,
keyed by the command's message, and so is what the command changes: an update delivered
twice is answered, and acts, once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.desks import Desk
from triage_desk.intake.telegram.commands import Command
from triage_desk.intake.telegram.decoder import language_of
from triage_desk.intake.telegram.link_by_email import link_command
from triage_desk.intake.telegram.texts import (
    ANSWERED_NOTE,
    DUE,
    GREETING,
    LANG_SET,
    LANGUAGE_NAMES,
    LINK_INVALID,
    LINKED,
    NEW_HOW,
    NONE_OPEN,
    NOT_LINKED,
    OPEN_HEADER,
    UNLINKED,
    lang_choices,
)
from triage_desk.responders.localtime import format_local
from triage_desk.responders.telegram_ids import CHANNEL, message_key
from triage_desk.storage.chat_settings import choose_language, chosen_language
from triage_desk.storage.links import redeem, unlink
from triage_desk.storage.models import (
    OutboxItem,
    OutboxStatus,
    RequesterAddress,
    Ticket,
    TicketStatus,
)

KIND = "chat_command"
_WORKING = (TicketStatus.QUEUED, TicketStatus.OPEN, TicketStatus.ANSWERED)


def answer_language(session: Session, message: dict[str, Any], desk: Desk) -> str:
    chat = str(message["chat"]["id"])
    chosen = chosen_language(session, CHANNEL, desk.name, chat)
    sender = message.get("from") or {}
    return chosen or language_of(sender.get("language_code")) or desk.config.default_language


def status_text(session: Session, desk: Desk, chat: str, language: str) -> str:
    """The person's tickets being worked on at this desk, each with its category and when
    an answer is due, in ``language`` and the desk's time zone."""
    tickets = session.scalars(
        select(Ticket)
        .join(RequesterAddress, RequesterAddress.requester_id == Ticket.requester_id)
        .where(
            RequesterAddress.channel == CHANNEL,
            RequesterAddress.address == chat,
            Ticket.desk == desk.name,
            Ticket.status.in_(_WORKING),
        )
        .order_by(Ticket.id)
    ).all()
    if not tickets:
        return NONE_OPEN[language]
    lines = [OPEN_HEADER[language]]
    for ticket in tickets:
        if ticket.first_response_at is None and ticket.response_due is not None:
            due = format_local(ticket.response_due, desk.calendar.zone, language)
            when = DUE[language].format(due=due)
        else:
            when = ANSWERED_NOTE[language]
        label = desk.category_label(ticket.category, language)
        lines.append(f"• {ticket.number} — {label} — {when}")
    return "\n".join(lines)


def queue_answer(
    session: Session, desk: Desk, command: Command, message: dict[str, Any], now: dt.datetime
) -> bool:
    """The command's answer in the outbox (in the caller's transaction); False when this
    command was answered already (its update came again)."""
    chat = str(message["chat"]["id"])
    key = f"telegram-command:{message_key(chat, message['message_id'])}"
    if session.scalar(select(OutboxItem.id).where(OutboxItem.dedupe_key == key)) is not None:
        return False
    text = _act(session, desk, command, chat, answer_language(session, message, desk), now)
    session.add(
        OutboxItem(
            dedupe_key=key,
            kind=KIND,
            ticket_id=None,
            channel=CHANNEL,
            sender=desk.address,
            recipient=chat,
            recipient_key=chat,
            subject="",
            body_text=text,
            headers={"in_reply_to": message_key(chat, message["message_id"]), "automatic": True},
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


def _act(
    session: Session, desk: Desk, command: Command, chat: str, language: str, now: dt.datetime
) -> str:
    """What ``command`` does, and the answer's text."""
    if command.name == "status":
        return status_text(session, desk, chat, language)
    if command.name == "new":
        return NEW_HOW[language]
    if command.name == "lang":
        chosen = command.rest.lower()
        if chosen not in LANGUAGE_NAMES:
            return lang_choices(language)
        choose_language(session, CHANNEL, desk.name, chat, chosen, now)
        return LANG_SET[chosen]
    if command.name == "link":
        return link_command(session, desk, chat, command.rest, language, now)
    if command.name == "unlink":
        return UNLINKED[language] if unlink(session, CHANNEL, chat) else NOT_LINKED[language]
    if command.name == "start" and command.rest:
        # A deep link's start parameter: a link token (a stale one is said so, not greeted).
        linked = redeem(session, CHANNEL, chat, command.rest, now)
        return LINKED[language] if linked else LINK_INVALID[language]
    return GREETING[language]
