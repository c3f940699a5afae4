"""First replies to a chat speak of a message, never a letter, and ask for no subject line:
the real context builders (``chat`` comes from the ticket's channel) and the real templates,
every first-reply kind, both seed desks, lv/en/ru. Email keeps its letter wording."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from triage_desk.config import Config
from triage_desk.desks import Desks
from triage_desk.responders.acknowledgement import (
    acknowledgement_context,
    refusal_context,
    urgent_route_context,
)
from triage_desk.responders.render import TemplateRenderer
from triage_desk.sla import DueTimes
from triage_desk.storage.models import Ticket

RECEIVED = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)  # Saturday 03:00 in Riga
DUE = DueTimes(
    clock_start=dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC),
    response_due=dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC),
    resolution_due=dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.UTC),
)
# Words of a letter and of its subject line, in each language.
LETTER = re.compile(r"vēstul|письм|letter|subject line|temata rind|в теме", re.IGNORECASE)
CASES = [
    ("municipal", "acknowledgement", "consultation"),
    ("municipal", "refusal", "consultation"),
    ("municipal", "urgent_route", "emergency"),
    ("eparaksts", "acknowledgement", "application"),
    ("eparaksts", "urgent_route", "suspension"),
]


def _ticket(desk: str, category: str, language: str, channel: str) -> Ticket:
    return Ticket(
        number="MUN-2026-000007",
        desk=desk,
        channel=channel,
        subject="Nevaru pieslēgties portālam",
        language=language,
        category=category,
        feedback_type="none",
    )


def _render(config: Config, desk_name: str, kind: str, category: str, language: str, channel: str):
    desk = Desks(config)[desk_name]
    ticket = _ticket(desk_name, category, language, channel)
    if kind == "acknowledgement":
        context = acknowledgement_context(desk, ticket, DUE, RECEIVED)
    elif kind == "refusal":
        context = refusal_context(desk, ticket, None, ())
    else:
        context = urgent_route_context(desk, ticket, RECEIVED)
    return TemplateRenderer().render(kind, desk_name, language, context).text


@pytest.mark.parametrize("language", ["lv", "en", "ru"])
@pytest.mark.parametrize(("desk", "kind", "category"), CASES)
def test_a_first_reply_to_a_chat_says_message_not_letter(
    example_config, desk, kind, category, language
):
    text = _render(example_config, desk, kind, category, language, "telegram")
    assert LETTER.findall(text) == []
    assert "MUN-2026-000007" in text


@pytest.mark.parametrize("language", ["lv", "ru"])
@pytest.mark.parametrize(("desk", "kind", "category"), CASES)
def test_the_same_reply_by_email_is_still_a_letter(example_config, desk, kind, category, language):
    text = _render(example_config, desk, kind, category, language, "email")
    assert LETTER.search(text)


@pytest.mark.parametrize("language", ["lv", "en", "ru"])
def test_a_chat_acknowledgement_says_the_next_messages_join_the_request(example_config, language):
    text = _render(
        example_config, "municipal", "acknowledgement", "consultation", language, "telegram"
    )
    joins = {"lv": "turpmākās ziņas", "en": "next messages", "ru": "следующие сообщения"}
    assert joins[language] in text


@pytest.mark.parametrize("language", ["lv", "en", "ru"])
def test_a_chat_refusal_says_the_chat_cannot_show_a_representative(example_config, language):
    text = _render(example_config, "municipal", "refusal", "consultation", language, "telegram")
    why = {"lv": "šīs sarunas", "en": "this chat", "ru": "по этому чату"}
    assert why[language] in text
