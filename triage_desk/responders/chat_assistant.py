"""The virtual assistant in a chat: one answer per question, then "did this help?".

Any chat channel (Telegram, the web form) hands each incoming text to ``ChatAssistant``: a
"yes"/"no" right after an answer is stored as feedback on that answer; anything else is a
question, answered from the knowledge base, or honestly declined with when a human will
answer. Every answer and every feedback is stored, so staff can see what the assistant said
and which articles do not help.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.clock import system_clock
from triage_desk.desks import Desk
from triage_desk.responders.assistant import Assistant, plain_text
from triage_desk.responders.outbox import local_text
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.models import AssistantAnswer

# Yes/no in the three languages, with and without diacritics, as people type them in chat.
_YES = re.compile(r"^\s*(yes|yep|yeah|y|jā|ja|da|да|ага|palīdzēja|palidzeja|helped|👍)\b", re.I)
_NO = re.compile(r"^\s*(no|nope|n|nē|ne|нет|nepalīdzēja|nepalidzeja|не помогло|👎)\b", re.I)
# How long an answer waits for its "did this help?".
FEEDBACK_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class ChatReply:
    text: str  # what to send back in the chat
    answer_id: int | None  # the stored AssistantAnswer, if this was an answer or a decline
    feedback: bool | None = None  # set when the text was feedback on an earlier answer


def read_feedback(text: str) -> bool | None:
    """True for "yes", False for "no" (lv/en/ru), None for anything else."""
    if _NO.match(text):
        return False
    if _YES.match(text):
        return True
    return None


class ChatAssistant:
    def __init__(self, assistant: Assistant, renderer: TemplateRenderer) -> None:
        self.assistant = assistant
        self.renderer = renderer

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
        now = now or system_clock()
        verdict = read_feedback(text)
        if verdict is not None:
            pending = self._awaiting_feedback(session, channel, asker, now)
            if pending is not None:
                pending.helped = verdict
                pending.feedback_at = now
                return ChatReply(
                    self._thanks(desk, language, ticket_number, verdict), pending.id, verdict
                )
        return self._answer(
            session, desk, channel, asker, text, language, ticket_number, ticket_id, now
        )

    def _awaiting_feedback(
        self, session: Session, channel: str, asker: str, now: dt.datetime
    ) -> AssistantAnswer | None:
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

    def _answer(
        self,
        session: Session,
        desk: Desk,
        channel: str,
        asker: str,
        text: str,
        language: str,
        ticket_number: str,
        ticket_id: int | None,
        now: dt.datetime,
    ) -> ChatReply:
        settings = desk.config.assistant
        matches = (
            self.assistant.answer(text, desk.name, language, limit=1, min_score=settings.min_score)
            if settings.enabled
            else []
        )
        clock_start = desk.calendar.clock_start(now)
        common = {
            "ticket_number": ticket_number,
            "desk": desk.name,
            "desk_name": desk.config.name,
            "subject": "",
            "language": language,
            "opening_hours_text": f"{desk.config.calendar.open:%H:%M}–"
            f"{desk.config.calendar.close:%H:%M}",
            "contacts": dict(desk.config.contacts),
            "question": text,
        }
        if matches:
            best = matches[0]
            context = {
                **common,
                "article_title": best.title,
                "article_answer": plain_text(best.body),
                "article_url": best.url,
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
            ticket_id=ticket_id,
            desk=desk.name,
            channel=channel,
            asker=asker,
            language=language,
            question=text[:4000],
            article_slug=slug,
            score=score,
            created_at=now,
        )
        session.add(record)
        session.flush()
        return ChatReply(rendered.text, record.id)

    def _thanks(self, desk: Desk, language: str, ticket_number: str, helped: bool) -> str:
        context = {"ticket_number": ticket_number, "helped": helped}
        return self.renderer.render("assistant_thanks", desk.name, language, context).text
