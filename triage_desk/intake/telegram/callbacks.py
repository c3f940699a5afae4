"""Updates that are no message for intake: a press of one of the bot's buttons
(``callback_query``), and a member's reply in a desk's staff group.

A press is hostile input like any other: its ``callback_data`` is only a key. The assistant's
"Did this help?" (``ca:<key>:y|n``) is looked up by that key and acts only when the press
comes from the very chat the answer went to, on the message that carries it; the staff
group's (``sg:…``, ``staff_group.py``) only from the configured group and staff.

Each update is handled in the commit that takes it off the inbound queue, and everything it
causes is an outbox item keyed by it (the press's answer by its query id, the edit by the
answer): a press delivered twice, or replayed after a crash, acts and answers once, and a
second press of the same answer is told it was counted already.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock
from triage_desk.desks import Desk, Desks
from triage_desk.intake.steps.answer_in_chat import answer_key, queue_edit
from triage_desk.intake.telegram.decoder import language_of
from triage_desk.intake.telegram.updates import callback_query, group_reply
from triage_desk.responders.chat_assistant import (
    PRESS_DONE,
    PRESS_THANKS,
    ChatAssistant,
    parse_callback,
)
from triage_desk.responders.outbox import dedupe_key, queue_outbound
from triage_desk.responders.telegram_ids import CHANNEL
from triage_desk.storage.models import (
    AssistantAnswer,
    AuditEvent,
    OutboxItem,
    OutboxStatus,
    Ticket,
)

# What a press that acts on nothing is told (an alert: it needs the person's attention).
NOT_VALID = {
    "lv": "Šī poga vairs nav derīga.",
    "en": "This button is no longer valid.",
    "ru": "Эта кнопка больше не действует.",
}

Alongside = Callable[[Session], None]


def _update(payload: bytes) -> dict[str, Any] | None:
    try:
        update = json.loads(payload)
    except ValueError:
        return None
    return update if isinstance(update, dict) else None


def wanted(payload: bytes) -> bool:
    """A press or a group reply: handled here, not by the decoder and the intake steps."""
    update = _update(payload)
    return update is not None and (
        callback_query(update) is not None or group_reply(update) is not None
    )


def answer_press(
    session: Session,
    desk: Desk,
    query: dict[str, Any],
    text: str,
    now: dt.datetime,
    *,
    alert: bool = False,
) -> None:
    """Telegram's "the press was received" (``answerCallbackQuery``), through the outbox,
    once per press."""
    chat = str(query["message"]["chat"]["id"])
    session.add(
        OutboxItem(
            dedupe_key=press_key(query),
            kind="chat_callback",
            ticket_id=None,
            channel=CHANNEL,
            sender=desk.address,
            recipient=chat,
            recipient_key=chat,
            subject="",
            body_text=text,
            headers={"callback_query_id": query["id"], "alert": alert, "automatic": True},
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )


def press_key(query: dict[str, Any]) -> str:
    return f"telegram-callback:{query['id']}"


def press_language(query: dict[str, Any], desk: Desk) -> str:
    sender = query.get("from") or {}
    return language_of(sender.get("language_code")) or desk.config.default_language


class StaffHandler(Protocol):
    """The staff group's presses and replies (``staff_group.StaffGroup``)."""

    def press(self, desk: Desk, query: dict[str, Any], alongside: Alongside) -> str: ...

    def reply(self, desk: Desk, message: dict[str, Any], alongside: Alongside) -> str: ...


class Callbacks:
    """``staff``: the staff group's handler, for desks that have one."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        chat: ChatAssistant,
        clock: Clock,
        staff: StaffHandler | None = None,
        sender_name: str = "Triage Desk",
    ) -> None:
        self.sender_name = sender_name
        self.sessions = sessions
        self.desks = desks
        self.chat = chat
        self.clock = clock
        self.staff = staff

    def handle(self, desk_name: str, payload: bytes, alongside: Alongside) -> str:
        """Act on the update; ``alongside`` runs in the commit that records it (the queue
        row's delete). What it was, for the log."""
        update = _update(payload) or {}
        desk = self.desks[desk_name]
        query = callback_query(update)
        if query is None:
            reply = group_reply(update)
            if reply is not None and self.staff is not None:
                return self.staff.reply(desk, reply, alongside)
            with self.sessions.begin() as session:
                alongside(session)
            return "group message ignored"
        if str(query.get("data", "")).startswith("sg:") and self.staff is not None:
            return self.staff.press(desk, query, alongside)
        with self.sessions.begin() as session:
            detail = self._assistant_press(session, desk, query, self.clock())
            alongside(session)
        return detail

    def _assistant_press(
        self, session: Session, desk: Desk, query: dict[str, Any], now: dt.datetime
    ) -> str:
        if session.scalar(select(OutboxItem.id).where(OutboxItem.dedupe_key == press_key(query))):
            return "press answered already"
        parsed = parse_callback(str(query.get("data", "")))
        answer = (
            session.scalar(select(AssistantAnswer).where(AssistantAnswer.callback_key == parsed[0]))
            if parsed
            else None
        )
        if (
            parsed is None
            or answer is None
            or not self._from_its_chat(session, desk, answer, query)
        ):
            answer_press(
                session, desk, query, NOT_VALID[press_language(query, desk)], now, alert=True
            )
            return "press refused"
        helped = parsed[1]
        if not self.chat.record_feedback(answer, helped, "button", now):
            answer_press(session, desk, query, PRESS_DONE[answer.language], now)
            return "press counted already"
        ticket = session.get(Ticket, answer.ticket_id) if answer.ticket_id else None
        session.add(
            AuditEvent(
                at=now,
                actor="assistant",
                action="assistant_helped" if helped else "assistant_handoff",
                ticket_id=answer.ticket_id,
                details={
                    "article": answer.article_slug,
                    "question": answer.question[:500],
                    "via": "button",
                },
            )
        )
        answer_press(session, desk, query, PRESS_THANKS[answer.language], now)
        queue_edit(session, answer, answer.asker, desk.address, now)
        if not helped and ticket is not None:
            # The question is the staff's now: say by when a human will answer.
            queue_outbound(
                session,
                desk=desk,
                ticket=ticket,
                kind="assistant_thanks",
                rendered=self.chat.thanks(desk, answer.language, ticket, helped),
                recipient=answer.asker,
                channel=CHANNEL,
                key=dedupe_key("assistant-handoff", answer.id),
                now=now,
                sender_name=self.sender_name,
                in_reply_to=None,
            )
        return "helped" if helped else "handed off"

    @staticmethod
    def _from_its_chat(
        session: Session, desk: Desk, answer: AssistantAnswer, query: dict[str, Any]
    ) -> bool:
        """The press comes from the person the answer went to, in their private chat with
        this desk's bot, on the message that carries the answer."""
        message = query["message"]
        chat = message["chat"]
        if answer.channel != CHANNEL or answer.desk != desk.name or chat.get("type") != "private":
            return False
        if str(chat.get("id")) != answer.asker or str(query["from"].get("id")) != answer.asker:
            return False
        carrier = session.scalar(
            select(OutboxItem.delivered_parts).where(OutboxItem.dedupe_key == answer_key(answer))
        )
        known = [part for part in (carrier or []) if part]
        return bool(known) and known[-1] == message["message_id"]
