"""The virtual assistant in a chat: one answer per question, then "did this help?".

A chat's question gets the knowledge-base answer when the assistant is confident (with "Did
this help?" buttons where the channel has them), or an honest decline that says when a
human will answer. The person answers with a button or by typing "yes"/"no" (lv/en/ru):
the answer and the feedback are stored (``AssistantAnswer``), so staff see what the
assistant said, and the reports count offers, helped and hand-offs. A "no" hands the
question to staff, with the ticket's response due as the promise.

The buttons carry a random key (``callback_key``), never the answer's id or anything that
grants a right by itself: a press is looked up by it and checked against the chat the
answer went to (``intake/telegram/callbacks.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.clock import system_clock
from triage_desk.desks import Desk
from triage_desk.responders.assistant import Assistant, plain_text
from triage_desk.responders.outbox import local_text
from triage_desk.responders.render import Rendered, TemplateRenderer
from triage_desk.storage.models import AssistantAnswer, Ticket

# Yes/no in the three languages, with and without diacritics, as people type them in chat.
_YES = re.compile(r"^\s*(yes|yep|yeah|y|jā|ja|da|да|ага|palīdzēja|palidzeja|helped|👍)\b", re.I)
_NO = re.compile(r"^\s*(no|nope|n|nē|ne|нет|nepalīdzēja|nepalidzeja|не помогло|👎)\b", re.I)
# A typed answer is feedback only when it is short: a longer text is a new question.
MAX_FEEDBACK_CHARS = 40
# How long an answer waits for its "did this help?".
FEEDBACK_WINDOW = dt.timedelta(hours=24)
# What a button carries (Telegram's callback_data: at most 64 bytes): "ca:<key>:y|n".
CALLBACK_PREFIX = "ca"
_CALLBACK = re.compile(r"ca:([A-Za-z0-9_-]{16}):([yn])")

BUTTONS = {
    "lv": ("👍 Jā, palīdzēja", "👎 Nē"),
    "en": ("👍 Yes, it helped", "👎 No"),
    "ru": ("👍 Да, помогло", "👎 Нет"),
}
# Shown under the answer once the person has chosen (the buttons are gone).
CHOSEN = {
    "lv": {True: "✓ Jūs atbildējāt: palīdzēja.", False: "✓ Jūs atbildējāt: nepalīdzēja."},
    "en": {True: "✓ You answered: it helped.", False: "✓ You answered: it did not help."},
    "ru": {True: "✓ Вы ответили: помогло.", False: "✓ Вы ответили: не помогло."},
}
# The short notice a press gets (answerCallbackQuery).
PRESS_THANKS = {"lv": "Paldies!", "en": "Thank you!", "ru": "Спасибо!"}
PRESS_DONE = {
    "lv": "Jūsu atbilde jau ir saņemta.",
    "en": "Your answer has already been recorded.",
    "ru": "Ваш ответ уже получен.",
}

# A channel-neutral keyboard: rows of buttons, each a label and the data it sends back.
Buttons = list[list[dict[str, str]]]


@dataclass(frozen=True)
class ChatReply:
    text: str  # what to send back in the chat
    answer_id: int | None  # the stored AssistantAnswer, if this was an answer or a decline
    feedback: bool | None = None  # set when the text was feedback on an earlier answer


@dataclass(frozen=True)
class Offer:
    """What the assistant says to one question, stored as ``record``."""

    record: AssistantAnswer
    kind: str  # "assistant_answer" or "assistant_decline"
    rendered: Rendered
    buttons: Buttons | None  # only an answer asks whether it helped

    @property
    def declined(self) -> bool:
        return self.record.article_slug is None


def read_feedback(text: str) -> bool | None:
    """True for "yes", False for "no" (lv/en/ru), None for anything else."""
    if len(text.strip()) > MAX_FEEDBACK_CHARS:
        return None
    if _NO.match(text):
        return False
    if _YES.match(text):
        return True
    return None


def callback_data(key: str, helped: bool) -> str:
    return f"{CALLBACK_PREFIX}:{key}:{'y' if helped else 'n'}"


def parse_callback(data: str) -> tuple[str, bool] | None:
    """The answer key and the choice a button sent, or None when it is none of ours."""
    found = _CALLBACK.fullmatch(data)
    return (found.group(1), found.group(2) == "y") if found else None


def feedback_buttons(key: str, language: str) -> Buttons:
    yes, no = BUTTONS.get(language, BUTTONS["en"])
    return [
        [
            {"text": yes, "data": callback_data(key, True)},
            {"text": no, "data": callback_data(key, False)},
        ]
    ]


def response_due_text(desk: Desk, ticket: Ticket | None, language: str) -> str | None:
    """When a human will answer: the ticket's response due, while it is unanswered."""
    if ticket is None or ticket.first_response_at is not None:
        return None
    return local_text(desk, ticket.response_due, language)


def chosen_line(language: str, helped: bool) -> str:
    return CHOSEN.get(language, CHOSEN["en"])[helped]


class ChatAssistant:
    def __init__(self, assistant: Assistant, renderer: TemplateRenderer) -> None:
        self.assistant = assistant
        self.renderer = renderer

    # -- a question ----------------------------------------------------------------------

    def offer(
        self,
        session: Session,
        desk: Desk,
        *,
        channel: str,
        asker: str,
        question: str,
        language: str,
        now: dt.datetime,
        ticket: Ticket | None = None,
        message_id: int | None = None,
        buttons: bool = True,
    ) -> Offer:
        """The answer to ``question`` (or the decline), stored in the caller's transaction."""
        settings = desk.config.assistant
        matches = (
            self.assistant.answer(
                question, desk.name, language, limit=1, min_score=settings.min_score
            )
            if settings.enabled
            else []
        )
        clock_start = desk.calendar.clock_start(now)
        common: dict[str, Any] = {
            "ticket_number": ticket.number if ticket is not None else "",
            "desk": desk.name,
            "desk_name": desk.config.name,
            "subject": "",
            "language": language,
            "opening_hours_text": f"{desk.config.calendar.open:%H:%M}–"
            f"{desk.config.calendar.close:%H:%M}",
            "contacts": dict(desk.config.contacts),
            "question": question,
            "response_due_text": response_due_text(desk, ticket, language),
        }
        key = None
        if matches:
            best = matches[0]
            key = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
            context = {
                **common,
                "article_title": best.title,
                "article_answer": plain_text(best.body),
                "article_url": best.url,
                "buttons": buttons,
            }
            kind, slug, score = "assistant_answer", best.slug, best.score
        else:
            context = {
                **common,
                "clock_start_text": local_text(desk, clock_start, language),
                "out_of_hours": clock_start > now,
            }
            kind, slug, score = "assistant_decline", None, None
        rendered = self.renderer.render(kind, desk.name, language, context)
        record = AssistantAnswer(
            ticket_id=ticket.id if ticket is not None else None,
            message_id=message_id,
            desk=desk.name,
            channel=channel,
            asker=asker,
            language=language,
            question=question[:4000],
            article_slug=slug,
            score=score,
            created_at=now,
            callback_key=key,
        )
        session.add(record)
        session.flush()
        shown = feedback_buttons(key, language) if key and buttons else None
        return Offer(record, kind, rendered, shown)

    # -- the person's answer to it ---------------------------------------------------------

    def awaiting_feedback(
        self, session: Session, channel: str, asker: str, now: dt.datetime
    ) -> AssistantAnswer | None:
        """The latest answer in this chat still waiting for its "did this help?"."""
        return session.scalar(
            select(AssistantAnswer)
            .where(
                AssistantAnswer.channel == channel,
                AssistantAnswer.asker == asker,
                AssistantAnswer.article_slug.is_not(None),
                AssistantAnswer.helped.is_(None),
                AssistantAnswer.created_at >= now - FEEDBACK_WINDOW,
            )
            .order_by(AssistantAnswer.id.desc())
            .limit(1)
        )

    @staticmethod
    def record_feedback(answer: AssistantAnswer, helped: bool, via: str, now: dt.datetime) -> bool:
        """Store the person's verdict once; False when the answer had one already (a press
        delivered twice, or a second press, counts once)."""
        if answer.helped is not None:
            return False
        answer.helped, answer.feedback_at, answer.feedback_via = helped, now, via
        return True

    def thanks(self, desk: Desk, language: str, ticket: Ticket | None, helped: bool) -> Rendered:
        """What the person is told after their verdict: on "no", when a human will answer."""
        context = {
            "ticket_number": ticket.number if ticket is not None else "",
            "helped": helped,
            "response_due_text": response_due_text(desk, ticket, language),
        }
        return self.renderer.render("assistant_thanks", desk.name, language, context)

    # -- one call for a channel without intake (a typed conversation) ------------------------

    def handle(
        self,
        session: Session,
        desk: Desk,
        channel: str,
        asker: str,
        text: str,
        language: str,
        ticket_number: str = "",
        ticket_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> ChatReply:
        """A typed "yes"/"no" right after an answer is feedback on it; anything else is a
        question, answered without buttons."""
        now = now or system_clock()
        ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
        verdict = read_feedback(text)
        if verdict is not None:
            pending = self.awaiting_feedback(session, channel, asker, now)
            if pending is not None:
                self.record_feedback(pending, verdict, "text", now)
                thanks = self.thanks(desk, language, ticket, verdict).text
                return ChatReply(thanks, pending.id, verdict)
        offer = self.offer(
            session,
            desk,
            channel=channel,
            asker=asker,
            question=text,
            language=language,
            now=now,
            ticket=ticket,
            buttons=False,
        )
        return ChatReply(offer.rendered.text, offer.record.id)
