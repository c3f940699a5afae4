"""The assistant in chat: answers, asks whether it helped, stores the answer."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from triage_desk.desks import Desks
from triage_desk.responders.assistant import Assistant, KnowledgeBase
from triage_desk.responders.chat_assistant import ChatAssistant, read_feedback
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import AssistantAnswer

SATURDAY_NOON = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def chat() -> ChatAssistant:
    return ChatAssistant(Assistant(KnowledgeBase.load()), TemplateRenderer())


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.mark.parametrize(
    "text, verdict",
    [
        ("jā", True),
        ("Ja, paldies", True),
        ("yes!", True),
        ("да", True),
        ("nē", False),
        ("ne", False),
        ("no", False),
        ("нет", False),
        ("Kā nomainīt paroli?", None),
        ("ok what about PIN", None),
    ],
)
def test_yes_and_no_in_three_languages(text, verdict):
    assert read_feedback(text) == verdict


def test_an_answer_asks_whether_it_helped_and_stores_the_reply(sessions, chat, example_config):
    desk = Desks(example_config)["eparaksts"]
    with sessions.begin() as session:
        reply = chat.handle(
            session, desk, "telegram", "42", "Aizmirsu PIN kodu, ko darīt?", "lv", now=SATURDAY_NOON
        )
    assert "Vai tas palīdzēja?" in reply.text
    with sessions.begin() as session:
        thanks = chat.handle(
            session, desk, "telegram", "42", "nē", "lv", now=SATURDAY_NOON + dt.timedelta(minutes=2)
        )
    assert thanks.feedback is False and thanks.answer_id == reply.answer_id
    assert "darbinieks" in thanks.text
    with sessions() as session:
        [stored] = session.scalars(select(AssistantAnswer)).all()
        assert stored.article_slug and stored.helped is False and stored.asker == "42"
        assert stored.feedback_at == SATURDAY_NOON + dt.timedelta(minutes=2)


def test_an_unrelated_question_is_declined_honestly(sessions, chat, example_config):
    desk = Desks(example_config)["municipal"]
    with sessions.begin() as session:
        reply = chat.handle(
            session,
            desk,
            "telegram",
            "7",
            "Kas uzvarēja hokeja spēlē vakar?",
            "lv",
            now=SATURDAY_NOON,
        )
    # Saturday: a human answers when the desk opens on Monday at 09:00.
    assert "2026. gada 30. novembrī plkst. 09:00" in reply.text
    with sessions() as session:
        [stored] = session.scalars(select(AssistantAnswer)).all()
        assert stored.article_slug is None and stored.helped is None
    with sessions.begin() as session:
        # A "no" with no answer waiting is just a new message, not feedback.
        again = chat.handle(session, desk, "telegram", "7", "nē", "lv", now=SATURDAY_NOON)
        assert again.feedback is None
