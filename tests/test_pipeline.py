"""Intake pipeline: one message → ticket, message, suggestion, acknowledgement; all or nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.helpers import make_mail
from triage_desk.clock import FixedClock
from triage_desk.desks import Desks
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.email_sender import build_email
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    AuditEvent,
    Message,
    OutboxItem,
    Suggestion,
    Ticket,
    TicketStatus,
)

MONDAY_1000_RIGA = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
FRIDAY_1930_RIGA = dt.datetime(2026, 11, 27, 17, 30, tzinfo=dt.UTC)


@pytest.fixture
def env(database_url, example_config, classifier):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    # Mails are answered when they arrive: the clock stands a minute after the latest of them.
    clock = FixedClock(MONDAY_1000_RIGA + dt.timedelta(minutes=1))
    pipeline = IntakePipeline(
        sessions, Desks(example_config), classifier, TemplateRenderer(), now=clock
    )
    yield pipeline, sessions
    engine.dispose()


def _count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_mail_becomes_a_ticket_with_suggestion_and_acknowledgement(env):
    pipeline, sessions = env
    raw = make_mail()
    result = pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000_RIGA))
    assert result.created_ticket and result.acknowledged and not result.duplicate
    assert result.ticket_number == "MUN-2026-000001"
    with sessions() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket.status == TicketStatus.OPEN
        assert ticket.clock_start == MONDAY_1000_RIGA  # inside hours: the clock starts now
        assert ticket.response_due is not None and ticket.response_due > MONDAY_1000_RIGA
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.raw == raw  # the bytes as they came
        suggestion = session.scalar(select(Suggestion))
        assert suggestion.model_version == "test"
        assert 0 < suggestion.confidence <= 1
        item = session.scalar(select(OutboxItem))
        assert item.recipient == "ilze@novads.example.lv"
        assert item.sender == "atbalsts@example.lv"
        assert "[MUN-2026-000001]" in item.subject
        assert "MUN-2026-000001" in item.body_text
        assert build_email(item)["Auto-Submitted"] == "auto-replied"
        assert build_email(item)["In-Reply-To"] == f"<{inbound.external_id}>"
        outbound = session.get(Message, item.message_id)
        assert build_email(item)["Message-ID"] == f"<{outbound.external_id}>"


def test_a_mail_without_message_id_is_still_stored_once_and_answered(env):
    pipeline, sessions = env
    raw = b"From: a@novads.example.lv\r\nTo: atbalsts@example.lv\r\nSubject: x\r\n\r\nPalidziet\r\n"
    first = pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000_RIGA))
    again = pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000_RIGA))
    assert again.duplicate and again.ticket_id == first.ticket_id
    with sessions() as session:
        item = session.scalar(select(OutboxItem))
        assert "In-Reply-To" not in build_email(item)  # nothing real to thread under


def test_the_same_message_twice_makes_one_ticket_and_one_acknowledgement(env):
    pipeline, sessions = env
    raw = make_mail(message_id="<same@novads.example.lv>")
    first = pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000_RIGA))
    second = pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000_RIGA))
    assert second.duplicate and second.ticket_number == first.ticket_number
    assert (_count(sessions, Ticket), _count(sessions, OutboxItem)) == (1, 1)


def test_out_of_hours_mail_is_queued_until_the_next_opening(env):
    pipeline, sessions = env
    pipeline.now.set(FRIDAY_1930_RIGA + dt.timedelta(minutes=1))
    result = pipeline.process(inbound_from_email(make_mail(), "municipal", FRIDAY_1930_RIGA))
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.status == TicketStatus.QUEUED
        # Friday 19:30 → clock starts Monday 2026-11-30 09:00 Riga (07:00 UTC), clause 26.
        assert ticket.clock_start == dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
        item = session.scalar(select(OutboxItem))
        assert "2026. gada 30. novembrī plkst. 09:00" in item.body_text


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List-Id": "<users.lists.example.lv>"},
        {"X-Autoreply": "yes"},
    ],
)
def test_robots_get_a_ticket_but_no_acknowledgement(env, headers):
    pipeline, sessions = env
    raw = make_mail(subject="Out of office", extra_headers=headers)
    result = pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000_RIGA))
    assert result.created_ticket and not result.acknowledged
    assert _count(sessions, OutboxItem) == 0
    with sessions() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
        assert "no_acknowledgement" in actions


def test_mailer_daemon_is_never_answered(env):
    pipeline, sessions = env
    raw = make_mail(sender="Mail Delivery System <MAILER-DAEMON@mx.example.lv>")
    assert not pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000_RIGA)).acknowledged
    assert _count(sessions, OutboxItem) == 0


def test_a_reply_to_our_acknowledgement_joins_the_ticket(env):
    pipeline, sessions = env
    first = pipeline.process(inbound_from_email(make_mail(), "municipal", MONDAY_1000_RIGA))
    with sessions() as session:
        ack = session.scalar(select(OutboxItem))
        our_id = build_email(ack)["Message-ID"]
    reply = make_mail(
        subject=ack.subject.replace("[MUN-2026-000001] ", ""),
        body="Paldies, gaidīsim.",
        extra_headers={"In-Reply-To": our_id},
    )
    second = pipeline.process(inbound_from_email(reply, "municipal", MONDAY_1000_RIGA))
    assert second.ticket_id == first.ticket_id and not second.created_ticket
    assert (_count(sessions, Ticket), _count(sessions, OutboxItem)) == (1, 1)


def test_the_ticket_number_in_the_subject_threads_a_reply(env):
    pipeline, sessions = env
    first = pipeline.process(inbound_from_email(make_mail(), "municipal", MONDAY_1000_RIGA))
    reply = make_mail(subject=f"Re: [{first.ticket_number}] atskaite", body="Vēl viens jautājums")
    second = pipeline.process(inbound_from_email(reply, "municipal", MONDAY_1000_RIGA))
    assert second.ticket_id == first.ticket_id
    assert _count(sessions, Ticket) == 1


def test_a_failure_mid_way_stores_nothing(env, monkeypatch):
    pipeline, sessions = env

    def broken(*args, **kwargs):
        raise RuntimeError("template store unavailable")

    monkeypatch.setattr(pipeline.renderer, "render", broken)
    with pytest.raises(RuntimeError):
        pipeline.process(inbound_from_email(make_mail(), "municipal", MONDAY_1000_RIGA))
    assert [_count(sessions, m) for m in (Ticket, Message, Suggestion, OutboxItem)] == [0, 0, 0, 0]
    monkeypatch.undo()
    # The sender retries (SMTP 451) and the retry goes through whole.
    result = pipeline.process(inbound_from_email(make_mail(), "municipal", MONDAY_1000_RIGA))
    assert result.created_ticket and _count(sessions, OutboxItem) == 1


def test_eparaksts_gets_its_own_numbers_and_categories(env):
    pipeline, _sessions = env
    raw = make_mail(
        to="eparaksts@example.lv",
        subject="Nozagts telefons",
        body="Man nozagts telefons ar eParaksts mobile, lūdzu apturiet sertifikātu!",
    )
    result = pipeline.process(inbound_from_email(raw, "eparaksts", MONDAY_1000_RIGA))
    assert result.ticket_number.startswith("EPA-2026-")
    assert result.category in {"application", "suspension", "feedback"}
