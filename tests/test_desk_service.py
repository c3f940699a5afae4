"""The desk service as every front end sees it: queries with their filters and orders, one
ticket whole, every staff action with the audit it leaves, and the typed refusals."""

from __future__ import annotations

import datetime as dt
from dataclasses import FrozenInstanceError

import pytest
from sqlalchemy import select

from tests.helpers import make_mail
from triage_desk.classifier.predict import Prediction
from triage_desk.clock import FixedClock
from triage_desk.config import EmailConfig
from triage_desk.desk_service import (
    Conflict,
    DeskService,
    InvalidInput,
    NotAllowed,
    NotFound,
    TicketFilter,
)
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.quarantine import retry
from triage_desk.responders.dispatcher import Dispatcher
from triage_desk.responders.render import TemplateRenderer
from triage_desk.responders.transports import FileTransport
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    AuditEvent,
    Client,
    Decision,
    Membership,
    Message,
    OutboxItem,
    OutboxStatus,
    QuarantinedMail,
    QuarantineStatus,
    Requester,
    RequesterAddress,
    StoredAttachment,
    Suggestion,
    Ticket,
    TicketStatus,
)

UTC = dt.UTC
RIGA = dt.timezone(dt.timedelta(hours=2))  # Riga in winter
MONDAY_1000 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 10:00 in Riga
NOW = MONDAY_1000 + dt.timedelta(hours=3)  # Monday 13:00 in Riga
H = dt.timedelta(hours=1)


class FixedClassifier:
    """Always one sure category: the intake under test is the quarantine's, not the model."""

    def __init__(self, category: str) -> None:
        self.category = category

    def classify_many(self, items, semantic=None):  # type: ignore[no-untyped-def]
        return [
            Prediction(self.category, 0.95, "none", 0.99, 0.95, True, "lv", "fixed") for _ in items
        ]


@pytest.fixture
def world(database_url, example_config):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    clock = FixedClock(NOW)
    service = DeskService(
        sessions,
        desks,
        TemplateRenderer(),
        staff_names={"jberzins": "Jānis Bērziņš"},
        clock=clock,
    )
    yield sessions, desks, clock, service
    engine.dispose()


def add_ticket(
    sessions,
    number: str,
    *,
    desk: str = "municipal",
    status: str = TicketStatus.OPEN,
    category: str = "error",
    confirmed: bool = True,
    received: dt.datetime = MONDAY_1000,
    response_due: dt.datetime | None = MONDAY_1000 + 8 * H,
    first_response: dt.datetime | None = None,
    address: str = "ilze@novads.example.lv",
    suggestions: tuple[tuple[str, str, dt.datetime], ...] = (),
    resolved_at: dt.datetime | None = None,
) -> int:
    """A ticket as intake leaves it: requester, the person's mail, suggestions."""
    with sessions.begin() as session:
        row = session.scalar(select(RequesterAddress).where(RequesterAddress.address == address))
        if row is None:
            requester = Requester(display_name="Ilze Kalniņa")
            requester.addresses.append(RequesterAddress(channel="email", address=address))
            session.add(requester)
            session.flush()
        else:
            requester = row.requester
        ticket = Ticket(
            number=number,
            desk=desk,
            requester_id=requester.id,
            channel="email",
            subject=f"Par {number}",
            language="lv",
            status=status,
            category=category,
            category_confirmed=confirmed,
            received_at=received,
            clock_start=received,
            response_due=response_due,
            resolution_due=None,
            first_response_at=first_response,
            resolved_at=resolved_at,
        )
        session.add(ticket)
        session.flush()
        message = Message(
            ticket_id=ticket.id,
            direction="in",
            channel="email",
            external_id=f"{number.lower()}@novads.example.lv",
            sender=address,
            sender_name="Ilze Kalniņa",
            recipients=["atbalsts@example.lv"],
            subject=f"Par {number}",
            text="Labdien! Atskaite neveidojas.",
            headers={"Message-ID": f"<{number.lower()}@novads.example.lv>"},
            received_at=received,
        )
        session.add(message)
        session.flush()
        for stage, suggested, at in suggestions:
            session.add(
                Suggestion(
                    ticket_id=ticket.id,
                    message_id=message.id,
                    category=suggested,
                    category_confidence=0.7,
                    feedback_type="none",
                    feedback_confidence=0.9,
                    confidence=0.65,
                    auto_accept=False,
                    model_version="2026-11-01",
                    stage=stage,
                    created_at=at,
                )
            )
        return ticket.id


def numbers(found) -> list[str]:
    return [t.number for t in found]


def audits(sessions, action: str) -> list[AuditEvent]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


# --------------------------------------------------------------------------- the work queue


def test_the_work_queue_is_by_response_due_none_last_robots_apart(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001", response_due=MONDAY_1000 + 5 * H)
    add_ticket(sessions, "MUN-2026-000002", response_due=MONDAY_1000 + 1 * H)
    add_ticket(sessions, "MUN-2026-000003", category="feedback", response_due=None)
    add_ticket(sessions, "MUN-2026-000004", response_due=MONDAY_1000 + 3 * H)
    add_ticket(sessions, "MUN-2026-000005", status=TicketStatus.ROBOT, response_due=None)
    assert numbers(service.tickets()) == [
        "MUN-2026-000002",
        "MUN-2026-000004",
        "MUN-2026-000001",
        "MUN-2026-000003",
    ]
    assert numbers(service.tickets(TicketFilter(newest_first=True))) == [
        "MUN-2026-000004",
        "MUN-2026-000003",
        "MUN-2026-000002",
        "MUN-2026-000001",
    ]
    assert numbers(service.tickets(TicketFilter(limit=2))) == [
        "MUN-2026-000002",
        "MUN-2026-000004",
    ]
    assert numbers(service.tickets(TicketFilter(status="robot"))) == ["MUN-2026-000005"]


def test_the_work_queue_filters_by_desk_and_status(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001")
    add_ticket(sessions, "MUN-2026-000002", status=TicketStatus.REFUSED, category="consultation")
    add_ticket(sessions, "EPA-2026-000001", desk="eparaksts", category="application")
    assert numbers(service.tickets(TicketFilter(desk="eparaksts"))) == ["EPA-2026-000001"]
    assert numbers(service.tickets(TicketFilter(status="refused"))) == ["MUN-2026-000002"]
    assert numbers(service.tickets(TicketFilter(desk="eparaksts", status="refused"))) == []


def test_times_are_in_the_desks_zone(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001")
    [found] = service.tickets()
    assert found.received_at.utcoffset() == dt.timedelta(hours=2)
    assert found.received_at.isoformat() == "2026-11-30T10:00:00+02:00"
    assert found.sender == "ilze@novads.example.lv" and found.subject == "Par MUN-2026-000001"
    with pytest.raises(FrozenInstanceError):
        found.status = "resolved"  # type: ignore[misc]


def test_overdue_means_the_response_due_passed_with_no_first_response(world):
    sessions, _, clock, service = world
    add_ticket(sessions, "MUN-2026-000001", response_due=NOW - H)  # overdue
    add_ticket(sessions, "MUN-2026-000002", response_due=NOW - H, first_response=NOW - 2 * H)
    add_ticket(
        sessions,
        "MUN-2026-000003",
        status=TicketStatus.RESOLVED,
        response_due=NOW - H,
        resolved_at=NOW - H,
    )
    add_ticket(sessions, "MUN-2026-000004", response_due=NOW)  # due this instant: not yet late
    add_ticket(sessions, "MUN-2026-000005", response_due=None)
    assert numbers(service.tickets(TicketFilter(overdue=True))) == ["MUN-2026-000001"]
    marked = {t.number: t.overdue for t in service.tickets()}
    assert marked == {
        "MUN-2026-000001": True,
        "MUN-2026-000002": False,
        "MUN-2026-000003": False,
        "MUN-2026-000004": False,
        "MUN-2026-000005": False,
    }
    clock.advance(minutes=1)  # "now" is the injected clock's
    assert numbers(service.tickets(TicketFilter(overdue=True))) == [
        "MUN-2026-000001",
        "MUN-2026-000004",
    ]


def test_due_within_takes_unanswered_tickets_due_by_then_overdue_included(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001", response_due=NOW + 90 * dt.timedelta(minutes=1))
    add_ticket(sessions, "MUN-2026-000002", response_due=NOW + 30 * dt.timedelta(minutes=1))
    add_ticket(sessions, "MUN-2026-000003", response_due=NOW - H)
    add_ticket(
        sessions, "MUN-2026-000004", response_due=NOW + H / 2, first_response=NOW - H
    )  # answered
    add_ticket(sessions, "MUN-2026-000005", response_due=None)
    within = service.tickets(TicketFilter(due_within=H))
    assert numbers(within) == ["MUN-2026-000003", "MUN-2026-000002"]
    assert numbers(service.tickets(TicketFilter(due_within=2 * H))) == [
        "MUN-2026-000003",
        "MUN-2026-000002",
        "MUN-2026-000001",
    ]
    assert numbers(service.tickets(TicketFilter(due_within=H, overdue=True))) == ["MUN-2026-000003"]


def test_needs_review_is_an_unconfirmed_category_or_a_refinement_that_disagrees(world):
    sessions, _, clock, service = world
    earlier = NOW - 2 * H
    add_ticket(sessions, "MUN-2026-000001", confirmed=False)
    add_ticket(sessions, "MUN-2026-000002", confirmed=True)
    add_ticket(  # auto-accepted at intake, then the semantic stage suggested otherwise
        sessions,
        "MUN-2026-000003",
        suggestions=(("fast", "error", earlier), ("semantic", "consultation", earlier)),
    )
    add_ticket(  # the semantic stage agreed
        sessions,
        "MUN-2026-000004",
        suggestions=(("fast", "error", earlier), ("semantic", "error", earlier)),
    )
    add_ticket(
        sessions,
        "MUN-2026-000005",
        status=TicketStatus.RESOLVED,
        confirmed=False,
        resolved_at=earlier,
    )
    wanted = TicketFilter(needs_review=True)
    assert numbers(service.tickets(wanted)) == ["MUN-2026-000001", "MUN-2026-000003"]
    assert {t.number for t in service.tickets() if t.needs_review} == {
        "MUN-2026-000001",
        "MUN-2026-000003",
    }
    # A staff decision after the refinement settles it; a refinement after it reopens it.
    service.confirm("MUN-2026-000003", "jberzins", "Tā ir kļūda")
    service.confirm("MUN-2026-000001", "jberzins")
    assert numbers(service.tickets(wanted)) == []
    ticket_id = add_ticket(sessions, "MUN-2026-000006", confirmed=True)
    with sessions.begin() as session:
        session.add(
            Decision(
                ticket_id=ticket_id,
                field="category",
                from_value="error",
                to_value="error",
                staff="jberzins",
                created_at=NOW - H,
            )
        )
        message_id = session.scalar(select(Message.id).where(Message.ticket_id == ticket_id))
        session.add(
            Suggestion(
                ticket_id=ticket_id,
                message_id=message_id,
                category="inaccuracy",
                category_confidence=0.8,
                feedback_type="none",
                feedback_confidence=0.9,
                confidence=0.75,
                model_version="2026-11-01",
                stage="semantic",
                created_at=clock(),
            )
        )
    assert numbers(service.tickets(wanted)) == ["MUN-2026-000006"]


@pytest.mark.parametrize(
    ("wanted", "field", "valid"),
    [
        (TicketFilter(desk="nosuch"), "desk", ("eparaksts", "municipal")),
        (TicketFilter(status="bogus"), "status", None),
        (TicketFilter(limit=0), "limit", None),
        (TicketFilter(due_within=-H), "due_within", None),
    ],
)
def test_a_bad_filter_names_the_field_and_the_valid_values(world, wanted, field, valid):
    _, _, _, service = world
    with pytest.raises(InvalidInput) as refused:
        service.tickets(wanted)
    assert refused.value.field == field
    if valid:
        assert refused.value.valid == valid and str(list(valid)) in str(refused.value)
    if field == "status":
        assert "robot" in refused.value.valid and "'robot'" in str(refused.value)


# --------------------------------------------------------------------------- one ticket


def test_a_ticket_shows_its_thread_attachments_suggestions_decisions_audit_requester(world):
    sessions, _, clock, service = world
    ticket_id = add_ticket(
        sessions,
        "MUN-2026-000001",
        confirmed=False,
        address="it.vaditajs@ogre.example.lv",
        suggestions=(("fast", "consultation", MONDAY_1000), ("semantic", "error", NOW - H)),
    )
    with sessions.begin() as session:
        client = Client(name="Ogres novada pašvaldība", desk="municipal", domains=["ogre.lv"])
        session.add(client)
        session.flush()
        ticket = session.get(Ticket, ticket_id)
        ticket.client_id = client.id
        session.add(
            Membership(
                requester_id=ticket.requester_id, client_id=client.id, is_representative=True
            )
        )
        first = session.scalar(select(Message).where(Message.ticket_id == ticket_id))
        session.add_all(
            [
                StoredAttachment(
                    message_id=first.id,
                    filename="kļūda.png",
                    content_type="image/png",
                    size=5,
                    md5="0" * 32,
                    data=b"\x89PNG!",
                ),
                StoredAttachment(
                    message_id=first.id,
                    filename="liels.zip",
                    content_type="application/zip",
                    size=50_000_000,
                    md5="1" * 32,
                    data=None,
                    dropped_reason="over the 10 MB limit",
                ),
                Message(  # the same person, later, from a chat
                    ticket_id=ticket_id,
                    direction="in",
                    channel="telegram",
                    external_id="42:7",
                    sender="42",
                    text="Vai ir ziņas?",
                    received_at=MONDAY_1000 + H,
                ),
            ]
        )
    service.change_category("mun-2026-000001 ", "serious_error", "Nav apiešanas ceļa.", "jberzins")
    clock.advance(minutes=5)
    service.reply("MUN-2026-000001", "Skatāmies.", "jberzins")

    detail = service.ticket("mun-2026-000001")
    t = detail.summary
    assert (t.number, t.desk, t.status, t.category) == (
        "MUN-2026-000001",
        "municipal",
        TicketStatus.ANSWERED,
        "serious_error",
    )
    assert t.response_due == dt.datetime(2026, 11, 30, 12, 0, tzinfo=RIGA)  # 2 bh from 10:00
    assert t.first_response_at == (NOW + dt.timedelta(minutes=5)).astimezone(RIGA)
    assert not t.needs_review and t.category_confirmed
    assert [(m.direction, m.channel, m.sender) for m in detail.messages] == [
        ("in", "email", "it.vaditajs@ogre.example.lv"),
        ("in", "telegram", "42"),
        ("out", "email", "atbalsts@example.lv"),
        ("out", "email", "atbalsts@example.lv"),
    ]
    person, chat, notice, answer = detail.messages
    assert person.text == "Labdien! Atskaite neveidojas." and person.author_kind == "person"
    assert person.received_at.isoformat() == "2026-11-30T10:00:00+02:00"
    assert chat.text == "Vai ir ziņas?"
    assert (notice.outbox_kind, notice.outbox_status) == ("recategorisation", "pending")
    assert answer.outbox_kind == "staff_reply" and "Skatāmies." in answer.text
    assert [(a.filename, a.size, a.stored, a.dropped_reason) for a in person.attachments] == [
        ("kļūda.png", 5, True, None),
        ("liels.zip", 50_000_000, False, "over the 10 MB limit"),
    ]
    assert not hasattr(person.attachments[0], "data")  # metadata, never the bytes
    assert [(s.stage, s.category, s.model_version, s.confidence) for s in detail.suggestions] == [
        ("fast", "consultation", "2026-11-01", 0.65),
        ("semantic", "error", "2026-11-01", 0.65),
    ]
    [decision] = detail.decisions
    assert (decision.from_value, decision.to_value, decision.staff, decision.reason) == (
        "error",
        "serious_error",
        "jberzins",
        "Nav apiešanas ceļa.",
    )
    assert [e.action for e in detail.audit] == ["category_changed", "replied"]
    assert detail.audit[0].details["reason"] == "Nav apiešanas ceļa."
    assert detail.audit[0].actor == "jberzins" and detail.audit[0].at == NOW.astimezone(RIGA)
    who = detail.requester
    assert who.display_name == "Ilze Kalniņa"
    assert [a.address for a in who.addresses] == ["it.vaditajs@ogre.example.lv"]
    assert (who.client, who.representative) == ("Ogres novada pašvaldība", True)


def test_an_unknown_ticket_is_not_found(world):
    _, _, _, service = world
    with pytest.raises(NotFound) as missing:
        service.ticket("MUN-2026-999999")
    assert (missing.value.kind, missing.value.key) == ("ticket", "MUN-2026-999999")


# --------------------------------------------------------------------------- ticket actions


def test_confirm_records_who_and_why_and_withdraws_a_refusal(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001", confirmed=False)
    add_ticket(
        sessions,
        "MUN-2026-000002",
        status=TicketStatus.REFUSED,
        category="consultation",
        address="peteris@ogre.example.lv",
    )
    done = service.confirm("MUN-2026-000001", "jberzins", "Pareizi")
    assert (done.status, done.outbox_kind) == (TicketStatus.OPEN, None)
    done = service.confirm("MUN-2026-000002", "jberzins", "Vadītāja atļāva")
    assert (done.status, done.outbox_kind) == (TicketStatus.OPEN, "refusal_withdrawn")
    [confirmed, _] = audits(sessions, "category_confirmed")
    assert (confirmed.actor, confirmed.at, confirmed.details) == (
        "jberzins",
        NOW,
        {"category": "error", "reason": "Pareizi"},
    )
    [override] = audits(sessions, "refusal_overridden")
    assert override.details == {"reason": "Vadītāja atļāva"}


def test_a_category_change_needs_a_reason_a_known_category_and_a_change(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001")
    with pytest.raises(InvalidInput) as refused:
        service.change_category("MUN-2026-000001", "serious_error", "  ", "jberzins")
    assert refused.value.field == "reason" and "clause 33" in str(refused.value)
    with pytest.raises(InvalidInput) as refused:
        service.change_category("MUN-2026-000001", "suspension", "x", "jberzins")
    assert refused.value.field == "category" and "serious_error" in refused.value.valid
    with pytest.raises(Conflict) as same:
        service.change_category("MUN-2026-000001", "error", "x", "jberzins")
    assert same.value.code == "same_category"
    with pytest.raises(NotFound):
        service.change_category("MUN-2026-000404", "error", "x", "jberzins")
    done = service.change_category("MUN-2026-000001", "consultation", "Jautājums", "jberzins")
    assert done.outbox_kind == "recategorisation"
    [changed] = audits(sessions, "category_changed")
    assert changed.details == {"old": "error", "new": "consultation", "reason": "Jautājums"}


def test_feedback_type_is_one_the_desk_knows(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001")
    with pytest.raises(InvalidInput) as refused:
        service.change_feedback_type("MUN-2026-000001", "rant", "jberzins")
    assert refused.value.field == "feedback_type" and "praise" in refused.value.valid
    service.change_feedback_type("MUN-2026-000001", "praise", "jberzins", "Paldies vēstulē")
    [event] = audits(sessions, "feedback_type_set")
    assert event.details == {"old": "none", "new": "praise", "reason": "Paldies vēstulē"}
    assert service.ticket("MUN-2026-000001").summary.feedback_type == "praise"


def test_every_action_needs_to_know_who_acts(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001")
    with pytest.raises(InvalidInput) as refused:
        service.confirm("MUN-2026-000001", " ")
    assert refused.value.field == "staff"


def test_reply_refuses_empty_text_and_a_bouncing_address_unless_forced(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001")
    with pytest.raises(InvalidInput) as refused:
        service.reply("MUN-2026-000001", " \n", "jberzins")
    assert refused.value.field == "text"
    with sessions.begin() as session:
        row = session.scalar(select(RequesterAddress))
        row.undeliverable, row.undeliverable_reason = True, "permanent bounce (5.1.1)"
    with pytest.raises(NotAllowed) as bounced:
        service.reply("MUN-2026-000001", "Labdien!", "jberzins")
    assert bounced.value.code == "undeliverable" and "5.1.1" in str(bounced.value)
    done = service.reply("MUN-2026-000001", "Labdien!", "jberzins", force=True)
    assert (done.status, done.outbox_kind) == (TicketStatus.ANSWERED, "staff_reply")
    [event] = audits(sessions, "replied")
    assert (event.actor, event.at) == ("jberzins", NOW)


def test_resolve_then_reopen_as_a_persons_reply_would(world):
    sessions, _, clock, service = world
    add_ticket(sessions, "MUN-2026-000001", first_response=NOW - H)
    with pytest.raises(Conflict) as refused:
        service.reopen("MUN-2026-000001", "jberzins")
    assert refused.value.code == "not_resolved"
    done = service.resolve("MUN-2026-000001", "jberzins", "Izlabots")
    assert (done.status, done.outbox_kind) == (TicketStatus.RESOLVED, "resolution")
    with pytest.raises(Conflict) as again:
        service.resolve("MUN-2026-000001", "jberzins")
    assert again.value.code == "already_resolved"
    [resolved] = audits(sessions, "resolved")
    assert resolved.details == {"note": "Izlabots"}

    clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC))  # Tuesday 11:00 in Riga
    done = service.reopen("mun-2026-000001", "jberzins", "Kļūda atkal parādījās")
    assert done.status == TicketStatus.OPEN
    detail = service.ticket("MUN-2026-000001").summary
    assert detail.clock_start == clock().astimezone(RIGA)
    # 8 business hours from Tuesday 11:00 on a 9-17 desk: Wednesday 11:00.
    assert detail.response_due == dt.datetime(2026, 12, 2, 11, 0, tzinfo=RIGA)
    assert detail.first_response_at is None
    [event] = audits(sessions, "reopened")
    assert event.actor == "jberzins" and event.at == clock()
    assert event.details["reason"] == "Kļūda atkal parādījās"
    assert event.details["resolved_at"] == NOW.isoformat()
    assert event.details["first_response_at"] == (NOW - H).isoformat()
    clock.set(dt.datetime(2026, 12, 1, 17, 0, tzinfo=UTC))  # 19:00: out of hours
    service.resolve("MUN-2026-000001", "jberzins")
    assert service.reopen("MUN-2026-000001", "jberzins").status == TicketStatus.QUEUED


# --------------------------------------------------------------------------- outbox


def add_outbox(sessions, status: str, error: str | None = None) -> int:
    with sessions.begin() as session:
        ticket = session.scalar(select(Ticket))
        item = OutboxItem(
            dedupe_key=f"test:{status}:{error}",
            kind="acknowledgement",
            ticket_id=ticket.id if ticket else None,
            channel="email",
            sender="atbalsts@example.lv",
            recipient="ilze@novads.example.lv",
            subject="Jūsu pieteikums",
            body_text="Labdien!",
            headers={"Message-ID": "<ours@example.lv>"},
            status=status,
            attempts=8 if status == OutboxStatus.DEAD else 0,
            last_error=error,
            created_at=MONDAY_1000,
            next_attempt_at=MONDAY_1000,
            claimed_at=None,
        )
        session.add(item)
        session.flush()
        return item.id


def test_outbox_list_filters_by_status_newest_first(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001")
    sent = add_outbox(sessions, OutboxStatus.SENT)
    dead = add_outbox(sessions, OutboxStatus.DEAD, "550 no such user")
    assert [i.id for i in service.outbox()] == [dead, sent]
    [item] = service.outbox(status="dead")
    assert (item.id, item.ticket_number, item.last_error) == (
        dead,
        "MUN-2026-000001",
        "550 no such user",
    )
    with pytest.raises(InvalidInput) as refused:
        service.outbox(status="lost")
    assert refused.value.field == "status" and "dead" in refused.value.valid


def test_a_dead_letter_is_requeued_and_the_dispatcher_sends_it(world, tmp_path):
    sessions, _, clock, service = world
    add_ticket(sessions, "MUN-2026-000001")
    dead = add_outbox(sessions, OutboxStatus.DEAD, "relay refused: 451 try later")
    sent = add_outbox(sessions, OutboxStatus.SENT)
    with pytest.raises(Conflict) as refused:
        service.requeue_outbox(sent, "jberzins")
    assert refused.value.code == "not_dead"
    with pytest.raises(NotFound):
        service.requeue_outbox(99999, "jberzins")
    done = service.requeue_outbox(dead, "jberzins", "relay fixed")
    assert (done.ticket_number, done.status) == ("MUN-2026-000001", OutboxStatus.PENDING)
    item = service.outbox_item(dead)
    assert (item.status, item.attempts, item.next_attempt_at, item.last_error) == (
        "pending",
        0,
        NOW,
        None,
    )
    [event] = audits(sessions, "outbox_requeued")
    assert event.actor == "jberzins" and event.at == NOW
    assert event.details == {
        "outbox_id": dead,
        "attempts": 8,
        "error": "relay refused: 451 try later",
        "reason": "relay fixed",
    }
    report = Dispatcher(sessions, {"email": FileTransport(tmp_path)}, now=clock).run_once()
    assert report.sent == 1 and service.outbox_item(dead).status == "sent"


# --------------------------------------------------------------------------- quarantine

GOOD_MAIL = make_mail(subject="Atskaite", body="Labdien! Atskaite neveidojas.")


def add_quarantined(sessions, raw: bytes = GOOD_MAIL, reason: str = "timeout") -> int:
    with sessions.begin() as session:
        item = QuarantinedMail(
            channel="email",
            source="smtp",
            desk="municipal",
            raw=raw,
            reason=reason,
            detail="took longer than 30 s",
            received_at=MONDAY_1000,
        )
        session.add(item)
        session.flush()
        return item.id


def test_quarantine_lists_held_mail_and_shows_one_with_its_bytes(world):
    sessions, _, _, service = world
    held = add_quarantined(sessions)
    other = add_quarantined(sessions, b"\x00\xff not a mail", "unparseable")
    service.discard_quarantined(other, "jberzins", "spam")
    [item] = service.quarantine()
    assert (item.id, item.status, item.sender, item.subject) == (
        held,
        "held",
        "Ilze Kalniņa <ilze@novads.example.lv>",
        "Atskaite",
    )
    assert item.raw is None and item.size == len(GOOD_MAIL)
    assert [i.id for i in service.quarantine(include_all=True)] == [held, other]
    shown = service.quarantined_mail(other)
    assert shown.raw == b"\x00\xff not a mail" and (shown.sender, shown.subject) == ("?", "?")
    with pytest.raises(NotFound):
        service.quarantined_mail(99999)


def test_discarding_keeps_the_mail_with_who_when_why(world):
    sessions, _, _, service = world
    item_id = add_quarantined(sessions)
    done = service.discard_quarantined(item_id, "jberzins", "reklāma")
    assert done.status == "discarded"
    with sessions() as session:
        row = session.get(QuarantinedMail, item_id)
        assert row.raw == GOOD_MAIL  # never deleted
        assert (row.status, row.discarded_by, row.discarded_at, row.discard_reason) == (
            QuarantineStatus.DISCARDED,
            "jberzins",
            NOW,
            "reklāma",
        )
    [event] = audits(sessions, "quarantine_discarded")
    assert event.actor == "jberzins" and event.details == {
        "quarantine_id": item_id,
        "source": "smtp",
        "held_for": "timeout",
        "reason": "reklāma",
    }
    with pytest.raises(Conflict) as again:
        service.discard_quarantined(item_id, "jberzins")
    assert again.value.code == "not_held"
    with pytest.raises(NotFound):
        service.discard_quarantined(99999, "jberzins")


def test_releasing_quarantined_mail_goes_through_the_real_intake(world, example_config):
    sessions, desks, clock, service = world
    # Without the intake machinery the service cannot release, and says so.
    with pytest.raises(NotAllowed) as refused:
        service.release_quarantined(add_quarantined(sessions), "jberzins")
    assert refused.value.code == "no_intake"

    pipeline = IntakePipeline(
        sessions,
        desks,
        FixedClassifier("error"),
        TemplateRenderer(),
        rules=EmailConfig(),
        now=clock,
    )
    intake = EmailIntake(sessions, pipeline, EmailConfig())
    releasing = DeskService(
        sessions,
        desks,
        TemplateRenderer(),
        clock=clock,
        reprocess=lambda item_id, limit: retry(sessions, intake, item_id, limit),
    )
    good = add_quarantined(sessions)
    bad = add_quarantined(sessions, b"", "unparseable")
    done = releasing.release_quarantined(good, "jberzins")
    assert done.status == "released" and done.ticket_number.startswith("MUN-2026-")
    assert releasing.ticket(done.ticket_number).messages[0].subject == "Atskaite"
    still = releasing.release_quarantined(bad, "jberzins")
    assert (still.status, still.ticket_number) == ("held", None)
    assert "still held: unparseable" in still.message
    with pytest.raises(Conflict):
        releasing.release_quarantined(good, "jberzins")
    with pytest.raises(InvalidInput) as limit:
        releasing.release_quarantined(bad, "jberzins", time_limit=0)
    assert limit.value.field == "time_limit"
    [released] = audits(sessions, "quarantine_released")
    assert released.actor == "jberzins" and released.details == {"quarantine_id": good}
    assert released.ticket_id is not None
    [failed] = audits(sessions, "quarantine_retry_failed")
    assert failed.details == {"quarantine_id": bad, "reason": "unparseable"}


# --------------------------------------------------------------------------- addresses


def test_an_undeliverable_address_is_listed_and_cleared_with_an_audit(world):
    sessions, _, _, service = world
    add_ticket(sessions, "MUN-2026-000001", address="gone@novads.example.lv")
    with sessions.begin() as session:
        row = session.scalar(select(RequesterAddress))
        row.undeliverable, row.undeliverable_reason = True, "permanent bounce (5.1.1)"
        row.undeliverable_at = MONDAY_1000
    [marked] = service.undeliverable_addresses()
    assert (marked.address, marked.undeliverable_reason, marked.undeliverable_at) == (
        "gone@novads.example.lv",
        "permanent bounce (5.1.1)",
        MONDAY_1000,
    )
    done = service.clear_address(" Gone@Novads.example.lv ", "jberzins", reason="called them")
    assert "gone@novads.example.lv" in done.message
    assert service.undeliverable_addresses() == []
    [event] = audits(sessions, "undeliverable_cleared")
    assert (event.actor, event.at, event.details) == (
        "jberzins",
        NOW,
        {"address": "gone@novads.example.lv", "reason": "called them"},
    )
    with pytest.raises(NotFound) as missing:
        service.clear_address("x@nowhere.lv", "jberzins")
    assert missing.value.kind == "address"
