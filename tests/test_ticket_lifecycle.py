"""Robot mail is kept apart from the work queue; a reply to a resolved ticket reopens it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.helpers import make_mail
from tests.test_responders import outbox, world  # noqa: F401  (world is a fixture)
from triage_desk.clock import FixedClock
from triage_desk.desk_service.actions import StaffActions
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.responders.email_sender import build_email
from triage_desk.responders.render import TemplateRenderer
from triage_desk.scheduler import release_due_tickets
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import AuditEvent, Ticket, TicketStatus

UTC = dt.UTC
SATURDAY_0300 = dt.datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
MONDAY_1100 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MONDAY_1500 = dt.datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
TUESDAY_1000 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WEDNESDAY_1000 = dt.datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
SATURDAY_1200 = dt.datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
NEXT_MONDAY_0900 = dt.datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
NEXT_MONDAY_1300 = dt.datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers",
    [
        {"Precedence": "bulk"},
        {"List-Id": "<jaunumi.example.lv>"},
        {"Auto-Submitted": "auto-replied"},
    ],
    ids=["precedence-bulk", "list-id", "auto-submitted"],
)
def test_robot_mail_is_stored_apart_with_no_due_times(world, headers):  # noqa: F811
    sessions, desks, pipeline = world
    mail = make_mail(
        sender="jaunumi@lists.example.lv",
        subject="Sistēma nestrādā – jaunumu izlaidums",
        extra_headers=headers,
    )
    # The model calls it an emergency; for robot mail that must not matter.
    result = pipeline("emergency", SATURDAY_0300).process(
        inbound_from_email(mail, "municipal", SATURDAY_0300)
    )
    assert result.created_ticket and not result.acknowledged
    assert outbox(sessions) == []
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.status == TicketStatus.ROBOT and not ticket.urgent
        assert (ticket.response_due, ticket.resolution_due) == (None, None)
        assert ticket.clock_start == ticket.received_at
        assert repo.list_tickets(session, exclude=[TicketStatus.ROBOT]) == []
        assert [t.number for t in repo.list_tickets(session, status="robot")] == [
            result.ticket_number
        ]
    assert release_due_tickets(sessions, desks, MONDAY_1100) == []  # never enters the work queue


def test_a_person_writing_on_the_same_topic_still_opens_an_emergency(world):  # noqa: F811
    sessions, _, pipeline = world
    mail = make_mail(sender="ilze@ogre.example.lv", subject="Sistēma nestrādā")
    result = pipeline("emergency", MONDAY_1100).process(
        inbound_from_email(mail, "municipal", MONDAY_1100)
    )
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.status == TicketStatus.OPEN and ticket.urgent and ticket.response_due


def _resolved_ticket(world):  # type: ignore[no-untyped-def]  # noqa: F811
    sessions, desks, pipeline = world
    mail = make_mail(sender="ilze@ogre.example.lv", subject="Kļūda atskaitē")
    result = pipeline("error", MONDAY_1100).process(
        inbound_from_email(mail, "municipal", MONDAY_1100)
    )
    clock = FixedClock(MONDAY_1100)
    actions = StaffActions(sessions, desks, TemplateRenderer(), clock=clock)
    actions.reply(result.ticket_number, "Izlabots.", "janis")
    clock.set(MONDAY_1500)
    actions.resolve(result.ticket_number, "janis")
    resolution = outbox(sessions)[-1]
    assert resolution.kind == "resolution"
    return result, build_email(resolution)["Message-ID"]


def _reply(world, message_id: str, when: dt.datetime, **changes):  # type: ignore[no-untyped-def]  # noqa: F811
    _, _, pipeline = world
    mail = make_mail(
        sender=changes.pop("sender", "ilze@ogre.example.lv"),
        subject="Re: Kļūda atskaitē",
        body="Kļūda atkal parādījās.",
        extra_headers={"In-Reply-To": message_id, "References": message_id, **changes},
    )
    return pipeline("error", when).process(inbound_from_email(mail, "municipal", when))


def _audit(sessions, action: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.details).where(AuditEvent.action == action)))


def test_a_reply_to_a_resolved_ticket_reopens_it(world):  # noqa: F811
    sessions, _, _ = world
    result, resolution_id = _resolved_ticket(world)
    reply = _reply(world, resolution_id, TUESDAY_1000)
    assert reply.ticket_id == result.ticket_id and not reply.created_ticket
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.status == TicketStatus.OPEN
        assert ticket.resolved_at is None and ticket.first_response_at is None
        # The error category's 8 business hours count from the reply: Tue 10:00 → Wed 10:00.
        assert ticket.clock_start == TUESDAY_1000 and ticket.response_due == WEDNESDAY_1000
    [before] = _audit(sessions, "reopened")
    assert before["resolved_at"] == MONDAY_1500.isoformat()
    assert before["first_response_at"] == MONDAY_1100.isoformat()
    assert before["response_due"] == dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC).isoformat()


def test_a_reply_out_of_hours_reopens_it_queued_for_the_next_opening(world):  # noqa: F811
    sessions, desks, _ = world
    result, resolution_id = _resolved_ticket(world)
    _reply(world, resolution_id, SATURDAY_1200)
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.status == TicketStatus.QUEUED
        assert ticket.clock_start == NEXT_MONDAY_0900
        assert ticket.response_due == dt.datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    released = release_due_tickets(sessions, desks, NEXT_MONDAY_1300)
    assert [t.number for t in released] == [result.ticket_number]


@pytest.mark.parametrize(
    "changes",
    [{"Auto-Submitted": "auto-replied"}, {"sender": "janis@example.lv"}],
    ids=["out-of-office", "staff"],
)
def test_robots_and_staff_do_not_reopen(world, example_config, changes):  # noqa: F811
    sessions, desks, _ = world
    result, resolution_id = _resolved_ticket(world)
    if "sender" in changes:
        from tests.test_responders import FixedClassifier
        from triage_desk.config import EmailConfig
        from triage_desk.intake.pipeline import IntakePipeline

        staff_pipeline = IntakePipeline(
            sessions,
            desks,
            FixedClassifier("error"),
            TemplateRenderer(),
            rules=EmailConfig(
                staff_addresses=["janis@example.lv"], trusted_authserv_ids=["mx.example.lv"]
            ),
            now=lambda: TUESDAY_1000,
        )
        mail = make_mail(
            sender="janis@example.lv",
            subject="Re: Kļūda atskaitē",
            # A proven staff reply (an unproven one is an ordinary follow-up, and reopens).
            extra_headers={
                "In-Reply-To": resolution_id,
                "Authentication-Results": "mx.example.lv; dkim=pass header.d=example.lv",
            },
        )
        staff_pipeline.process(inbound_from_email(mail, "municipal", TUESDAY_1000))
    else:
        _reply(world, resolution_id, TUESDAY_1000, **changes)
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.status == TicketStatus.RESOLVED and ticket.resolved_at == MONDAY_1500
    assert _audit(sessions, "reopened") == []
