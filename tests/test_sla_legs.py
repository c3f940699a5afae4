"""SLA legs follow every path that sets a due time or meets one: intake, the staff reply
(desk service, or a proven staff mail through intake), resolve, reopen (a new round, the
last one kept), recategorisation, a refusal and its override; and the 0022 migration
backfills them for tickets stored before it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.helpers import make_mail
from tests.sla_world import TagClassifier, make_sla_world, riga
from triage_desk.cli.tickets import ticket_json
from triage_desk.config import EmailConfig
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.render import TemplateRenderer
from triage_desk.sla import is_late
from triage_desk.storage import repositories as repo
from triage_desk.storage.db import (
    current_revision,
    downgrade,
    make_engine,
    make_session_factory,
    upgrade,
)
from triage_desk.storage.models import AuditEvent, Message, SlaLeg, Ticket, TicketStatus

UTC = dt.UTC
MONDAY_1000 = riga(2026, 11, 30, 10)


@pytest.fixture
def world(database_url, example_config):
    engine = make_engine(database_url)
    world = make_sla_world(make_session_factory(engine), example_config)
    yield world
    engine.dispose()


def legs(world, name: str) -> list[tuple[int, str, str, dt.datetime, dt.datetime | None]]:  # type: ignore[no-untyped-def]
    """(round, leg, category, due, done) of the ticket, due and done in Riga time."""
    with world.sessions() as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == world.numbers[name]))
        rows = session.scalars(
            select(SlaLeg).where(SlaLeg.ticket_id == ticket_id).order_by(SlaLeg.round, SlaLeg.id)
        ).all()
        return [
            (
                r.round,
                r.leg,
                r.category,
                r.due_at.astimezone(riga(2026, 1, 1, 0).tzinfo),
                r.done_at.astimezone(riga(2026, 1, 1, 0).tzinfo) if r.done_at else None,
            )
            for r in rows
        ]


def test_the_late_rule():
    due = riga(2026, 11, 30, 12)
    assert not is_late(due, due, due + dt.timedelta(days=1))  # met at the due time: on time
    assert is_late(due, due + dt.timedelta(seconds=1), due)
    assert not is_late(due, None, due)  # unmet, due now: not yet late
    assert is_late(due, None, due + dt.timedelta(seconds=1))


def test_intake_opens_both_legs_and_reply_and_resolve_meet_them(world):
    world.mail("tester", "error", MONDAY_1000)
    assert legs(world, "tester") == [
        (1, "response", "error", riga(2026, 12, 1, 10), None),
        (1, "resolution", "error", riga(2027, 5, 30, 10), None),
    ]
    world.reply("tester", riga(2026, 11, 30, 11))
    world.reply("tester", riga(2026, 11, 30, 12))  # only the first reply is the response
    world.resolve("tester", riga(2026, 12, 2, 12))
    assert [leg[4] for leg in legs(world, "tester")] == [
        riga(2026, 11, 30, 11),
        riga(2026, 12, 2, 12),
    ]


def test_a_resolution_without_a_reply_meets_the_response_too(world):
    world.mail("tester", "error", MONDAY_1000)
    world.resolve("tester", riga(2026, 12, 1, 11))  # an hour after the response was due
    with world.sessions() as session:
        response = session.scalar(select(SlaLeg).where(SlaLeg.leg == "response"))
        assert response.done_at == riga(2026, 12, 1, 11).astimezone(UTC)
        assert response.late_seconds == 3600 and response.breached_at == response.due_at


def test_reopening_starts_a_new_round_and_keeps_the_last(world):
    world.mail("tester", "error", MONDAY_1000)
    world.reply("tester", riga(2026, 12, 1, 12))  # two hours late
    world.resolve("tester", riga(2026, 12, 2, 12))
    world.clock.set(riga(2026, 12, 3, 10))
    world.service.reopen(world.numbers["tester"], "jberzins", "not fixed after all")
    assert legs(world, "tester") == [
        (1, "response", "error", riga(2026, 12, 1, 10), riga(2026, 12, 1, 12)),
        (1, "resolution", "error", riga(2027, 5, 30, 10), riga(2026, 12, 2, 12)),
        (2, "response", "error", riga(2026, 12, 4, 10), None),
        (2, "resolution", "error", riga(2027, 6, 3, 10), None),
    ]
    world.reply("tester", riga(2026, 12, 3, 11))
    assert legs(world, "tester")[2][4] == riga(2026, 12, 3, 11)
    with world.sessions() as session:  # the first round's late answer is still late
        first = session.scalar(select(SlaLeg).where(SlaLeg.round == 1, SlaLeg.leg == "response"))
        assert first.late_seconds == 7200
    shown = world.service.ticket(world.numbers["tester"]).legs  # what the ticket view shows
    assert [(v.round, v.leg, v.late, v.late_by) for v in shown] == [
        (1, "response", True, dt.timedelta(hours=2)),
        (1, "resolution", False, None),
        (2, "response", False, None),
        (2, "resolution", False, None),
    ]
    assert shown[0].due_at == riga(2026, 12, 1, 10) and shown[0].due_at.utcoffset()
    as_json = ticket_json(world.service.ticket(world.numbers["tester"]))["sla_legs"]  # show --json
    assert as_json[0] == {
        "leg": "response",
        "round": 1,
        "category": "error",
        "due_at": "2026-12-01T10:00:00+02:00",
        "done_at": "2026-12-01T12:00:00+02:00",
        "late": True,
        "late_seconds": 7200,
    }
    assert [leg["late"] for leg in as_json[1:]] == [False, False, False]


def test_the_legs_follow_a_recategorisation(world):
    world.mail("tester", "consultation", MONDAY_1000)
    assert legs(world, "tester")[0][3] == riga(2026, 12, 1, 10)
    world.reply("tester", riga(2026, 11, 30, 13))  # in time for a consultation
    world.recategorise("tester", "emergency", riga(2026, 11, 30, 14))
    # Counted again from the clock start: 2 business hours, 16 business hours.
    assert legs(world, "tester") == [
        (1, "response", "emergency", riga(2026, 11, 30, 12), riga(2026, 11, 30, 13)),
        (1, "resolution", "emergency", riga(2026, 12, 2, 10), None),
    ]
    with world.sessions() as session:  # now an hour late
        response = session.scalar(select(SlaLeg).where(SlaLeg.leg == "response"))
        assert response.late_seconds == 3600
    world.recategorise("tester", "feedback", riga(2026, 11, 30, 15))  # no targets: no legs
    assert legs(world, "tester") == []


def test_around_the_clock_and_out_of_hours_clocks(world):
    # A certificate suspension (24/7, "0 hours") at 03:00 on a Saturday: due at once; an
    # error at the same hour on the municipal desk: its clock starts Monday 9:00.
    saturday_0300 = riga(2026, 11, 28, 3)
    world.mail("tester", "suspension", saturday_0300, desk="eparaksts")
    assert legs(world, "tester") == [(1, "response", "suspension", saturday_0300, None)]
    world.mail("other", "error", saturday_0300)
    assert [leg[3] for leg in legs(world, "other")] == [
        riga(2026, 11, 30, 17),  # Monday 9:00 + 8 business hours
        riga(2027, 5, 30, 9),  # Monday 9:00 + 6 months
    ]


def test_a_refused_ticket_has_no_legs_until_the_refusal_is_withdrawn(world):
    # Not a representative: a sure consultation is refused (clause 28).
    world.clock.set(MONDAY_1000)
    raw = make_mail(subject="[consultation] Jautājums", sender="someone@else.example.lv")
    result = world.pipeline.process(inbound_from_email(raw, "municipal", MONDAY_1000))
    world.numbers["someone"] = result.ticket_number
    with world.sessions() as session:
        assert session.scalar(select(Ticket.status)) == TicketStatus.REFUSED
    assert legs(world, "someone") == []
    world.confirm("someone", riga(2026, 11, 30, 11))  # the override
    assert [(leg[1], leg[3]) for leg in legs(world, "someone")] == [
        ("response", riga(2026, 12, 1, 10)),
        ("resolution", riga(2026, 12, 7, 17)),
    ]


def test_a_proven_staff_mail_through_intake_is_the_response(world):
    world.mail("tester", "error", MONDAY_1000)
    staff_pipeline = IntakePipeline(
        world.sessions,
        world.desks,
        TagClassifier(),
        TemplateRenderer(),
        rules=EmailConfig(
            staff_addresses=["janis@example.lv"], trusted_authserv_ids=["mx.example.lv"]
        ),
        now=world.clock,
    )
    at = riga(2026, 12, 1, 11)  # an hour late
    world.clock.set(at)
    with world.sessions() as session:
        original = session.scalar(select(Message.external_id))
    raw = make_mail(
        sender="janis@example.lv",
        subject="Re: Atskaite neveidojas",
        date=at,
        extra_headers={
            "In-Reply-To": f"<{original.strip('<>')}>",
            "Authentication-Results": "mx.example.lv; dkim=pass header.d=example.lv",
        },
    )
    reply = staff_pipeline.process(inbound_from_email(raw, "municipal", at))
    assert reply.ticket_number == world.numbers["tester"] and not reply.created_ticket
    with world.sessions() as session:
        response = session.scalar(select(SlaLeg).where(SlaLeg.leg == "response"))
        assert response.done_at == at.astimezone(UTC) and response.late_seconds == 3600


def test_migration_0022_backfills_the_legs_of_stored_tickets(database_url):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    received = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    due = received + dt.timedelta(days=1)
    h = dt.timedelta(hours=1)
    with sessions.begin() as session:
        requester = repo.get_or_create_requester(session, "email", "a@example.lv", "A")
        for number, status, response_due, resolution_due, first, resolved in [
            ("MUN-2026-000001", TicketStatus.RESOLVED, due, due + 48 * h, due + 2 * h, due + h),
            ("MUN-2026-000002", TicketStatus.OPEN, due, None, None, None),
            ("MUN-2026-000003", TicketStatus.ROBOT, None, None, None, None),
            ("MUN-2026-000004", TicketStatus.REFUSED, due, due, None, None),
        ]:
            session.add(
                Ticket(
                    number=number,
                    desk="municipal",
                    requester=requester,
                    channel="email",
                    subject="s",
                    language="lv",
                    status=status,
                    category="error",
                    received_at=received,
                    clock_start=received,
                    response_due=response_due,
                    resolution_due=resolution_due,
                    first_response_at=first,
                    resolved_at=resolved,
                )
            )
    engine.dispose()
    downgrade(database_url, "0021_console_users")
    assert current_revision(database_url) == "0021_console_users"
    upgrade(database_url)
    with sessions() as session:
        rows = session.execute(
            select(
                Ticket.number, SlaLeg.leg, SlaLeg.done_at, SlaLeg.breached_at, SlaLeg.late_seconds
            )
            .join(Ticket, Ticket.id == SlaLeg.ticket_id)
            .order_by(Ticket.number, SlaLeg.leg.desc())
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        # answered 2 h late but resolved 1 h late first: the resolution was the response
        ("MUN-2026-000001", "response", due + h, due, 3600),
        ("MUN-2026-000001", "resolution", due + h, None, None),
        # open past its due: left for the scheduler (the report counts it late meanwhile)
        ("MUN-2026-000002", "response", None, None, None),
    ]


def test_the_scheduler_audits_each_breach_once(world):
    from triage_desk.scheduler import Scheduler

    world.mail("tester", "error", MONDAY_1000)
    scheduler = Scheduler(world.sessions, world.desks)
    assert scheduler.run_once(riga(2026, 12, 1, 10)) == 0  # due now: not yet late
    assert scheduler.run_once(riga(2026, 12, 1, 10, 1)) == 1
    assert scheduler.run_once(riga(2026, 12, 1, 11)) == 0
    with world.sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "sla_breached"))
        assert event.actor == "scheduler" and event.details["leg"] == "response"
