"""What the bot says to a command that makes no ticket (``/start``, ``/help``, ``/status``, a
bare ``/new``), in the person's language: the app's (``language_code``), else the desk's.

The answer is an outbox item written in the transaction that takes the update off the queue,
keyed by the command's message: an update delivered twice is answered once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.desks import Desk
from triage_desk.intake.telegram.commands import Command
from triage_desk.intake.telegram.decoder import language_of
from triage_desk.responders.localtime import format_local
from triage_desk.responders.telegram_ids import CHANNEL, message_key
from triage_desk.storage.models import (
    OutboxItem,
    OutboxStatus,
    RequesterAddress,
    Ticket,
    TicketStatus,
)

KIND = "chat_command"
_WORKING = (TicketStatus.QUEUED, TicketStatus.OPEN, TicketStatus.ANSWERED)

GREETING = {
    "lv": "Labdien! Šeit varat rakstīt atbalsta dienestam. Uzrakstiet savu jautājumu, un mēs "
    "to reģistrēsim un pateiksim, līdz kuram laikam atbildēsim. Turpmākās ziņas pievienosim "
    "tam pašam pieteikumam.\n/new <jautājums> — jauns pieteikums\n/status — jūsu atvērtie "
    "pieteikumi",
    "en": "Hello! Here you can write to the support desk. Write your question and we will "
    "register it and tell you by when we will answer. Your next messages join the same "
    "request.\n/new <question> — a new request\n/status — your open requests",
    "ru": "Здравствуйте! Здесь можно написать в службу поддержки. Напишите свой вопрос — мы "
    "его зарегистрируем и сообщим, до какого времени ответим. Следующие сообщения мы "
    "добавим к той же заявке.\n/new <вопрос> — новая заявка\n/status — ваши открытые заявки",
}
NEW_HOW = {
    "lv": "Lai sāktu jaunu pieteikumu, uzrakstiet jautājumu aiz komandas, piemēram: "
    "/new Nevaru atvērt rēķinu",
    "en": "To start a new request, write your question after the command, e.g. "
    "/new I cannot open the invoice",
    "ru": "Чтобы начать новую заявку, напишите вопрос после команды, например: "
    "/new Не могу открыть счёт",
}
NONE_OPEN = {
    "lv": "Jums nav atvērtu pieteikumu.",
    "en": "You have no open requests.",
    "ru": "У вас нет открытых заявок.",
}
OPEN_HEADER = {
    "lv": "Jūsu atvērtie pieteikumi:",
    "en": "Your open requests:",
    "ru": "Ваши открытые заявки:",
}
DUE = {"lv": "atbilde līdz {due}", "en": "answer by {due}", "ru": "ответ до {due}"}
ANSWERED_NOTE = {"lv": "atbildēts", "en": "answered", "ru": "дан ответ"}


def answer_language(message: dict[str, Any], desk: Desk) -> str:
    sender = message.get("from") or {}
    return language_of(sender.get("language_code")) or desk.config.default_language


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
    language = answer_language(message, desk)
    if command.name == "status":
        text = status_text(session, desk, chat, language)
    elif command.name == "new":
        text = NEW_HOW[language]
    else:
        text = GREETING[language]
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
