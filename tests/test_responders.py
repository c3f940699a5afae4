"""Every promise the seeds make, as the exact message that goes out."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import select

from tests.helpers import make_mail
from triage_desk.classifier.predict import Prediction
from triage_desk.clock import FixedClock
from triage_desk.config import EmailConfig
from triage_desk.desk_service.actions import StaffActions
from triage_desk.desk_service.errors import Conflict, InvalidInput
from triage_desk.desks import Desks
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.email_sender import build_email
from triage_desk.responders.render import TemplateRenderer
from triage_desk.scheduler import release_due_tickets
from triage_desk.storage.clients import ClientRecord, parse_clients_csv, upsert_clients
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import Decision, OutboxItem, Ticket, TicketStatus

UTC = dt.UTC
FRIDAY_1930 = dt.datetime(2026, 11, 27, 17, 30, tzinfo=UTC)  # 19:30 in Riga
MONDAY_0900 = dt.datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
SUNDAY_0300 = dt.datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
MONDAY_1000 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


class FixedClassifier:
    """Always proposes one category: lets a test pin the rule it checks, not the model."""

    def __init__(self, category: str, confidence: float = 0.95, language: str = "lv"):
        self.category, self.confidence, self.language = category, confidence, language

    def classify_many(self, items, semantic=None):
        return [
            Prediction(
                self.category,
                self.confidence,
                "none",
                0.99,
                self.confidence,
                self.confidence > 0.9,
                self.language,
                "fixed",
            )
            for _ in items
        ]


@pytest.fixture
def world(database_url, example_config):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    with sessions.begin() as session:
        upsert_clients(
            session,
            [
                ClientRecord(
                    "Ogres novada pašvaldība",
                    "municipal",
                    ("ogre.example.lv",),
                    (("it.vaditajs@ogre.example.lv", "Anna Liepa", True),),
                )
            ],
        )

    def pipeline(
        category: str, now: dt.datetime, confidence: float = 0.95, language: str = "lv"
    ) -> IntakePipeline:
        return IntakePipeline(
            sessions,
            desks,
            FixedClassifier(category, confidence, language),
            TemplateRenderer(),
            rules=EmailConfig(),
            now=lambda: now,
        )

    yield sessions, desks, pipeline
    engine.dispose()


def outbox(sessions) -> list[OutboxItem]:
    with sessions() as session:
        return list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def test_friday_evening_is_queued_and_released_monday_at_opening(world):
    sessions, desks, pipeline = world
    mail = make_mail(sender="ilze@ogre.example.lv", subject="Kļūda atskaitē")
    result = pipeline("error", FRIDAY_1930).process(
        inbound_from_email(mail, "municipal", FRIDAY_1930)
    )
    [ack] = outbox(sessions)
    assert ack.kind == "acknowledgement"
    assert result.ticket_number in ack.subject and result.ticket_number in ack.body_text
    # Clause 26: received after hours = received at 9:00 on the next business day.
    assert "pirmdien, 2026. gada 30. novembrī plkst. 09:00" in ack.body_text
    # 8 business hours from Monday 09:00 → Monday 17:00.
    assert "pirmdien, 2026. gada 30. novembrī plkst. 17:00" in ack.body_text
    urgent = pipeline("emergency", FRIDAY_1930 + dt.timedelta(hours=1)).process(
        inbound_from_email(
            make_mail(sender="b@ogre.example.lv", subject="Viss stāv"),
            "municipal",
            FRIDAY_1930 + dt.timedelta(hours=1),
        )
    )
    assert release_due_tickets(sessions, desks, MONDAY_0900 - dt.timedelta(seconds=1)) == []
    released = release_due_tickets(sessions, desks, MONDAY_0900)
    # Most urgent category first, then oldest.
    assert [r.number for r in released] == [urgent.ticket_number, result.ticket_number]
    with sessions() as session:
        statuses = session.scalars(select(Ticket.status)).all()
        assert set(statuses) == {TicketStatus.OPEN}
    # a restart releases nothing twice
    assert release_due_tickets(sessions, desks, MONDAY_0900) == []


def test_a_consultation_from_a_non_representative_is_refused_with_reason_and_grounds(world):
    sessions, _desks, pipeline = world
    mail = make_mail(sender="Pēteris <peteris@ogre.example.lv>", subject="Kā izveidot atskaiti?")
    result = pipeline("consultation", MONDAY_1000).process(
        inbound_from_email(mail, "municipal", MONDAY_1000)
    )
    [refusal] = outbox(sessions)
    assert refusal.kind == "refusal" and refusal.recipient == "peteris@ogre.example.lv"
    text = refusal.body_text
    assert result.ticket_number in refusal.subject
    assert "Konsultācija" in text  # what was refused
    assert "28. punkts" in text or "28. punkt" in text  # the grounds
    assert "it.vaditajs@ogre.example.lv" in text  # who can submit it instead
    assert "Ogres novada pašvaldība" in text
    with sessions() as session:
        assert session.get(Ticket, result.ticket_id).status == TicketStatus.REFUSED


def test_a_refusal_never_names_the_representative_as_a_mail_claimed(world):
    """Issue 16 item 3: the representative's display name in a mail is not taken for the
    name others read in a refusal (it carried a lure in the test)."""
    sessions, _desks, pipeline = world
    lure = "URGENT call +371 20000000 or pay at http://pay.example"
    pipeline("error", MONDAY_1000).process(
        inbound_from_email(
            make_mail(sender=f'"{lure}" <it.vaditajs@ogre.example.lv>', subject="Kļūda"),
            "municipal",
            MONDAY_1000,
        )
    )
    mail = make_mail(sender="Pēteris <peteris@ogre.example.lv>", subject="Kā izveidot atskaiti?")
    pipeline("consultation", MONDAY_1000).process(
        inbound_from_email(mail, "municipal", MONDAY_1000)
    )
    [refusal] = [item for item in outbox(sessions) if item.kind == "refusal"]
    assert "it.vaditajs@ogre.example.lv" in refusal.body_text
    assert "URGENT" not in refusal.body_text and "pay.example" not in refusal.body_text


def test_a_representative_may_submit_a_consultation(world):
    sessions, _desks, pipeline = world
    mail = make_mail(sender="it.vaditajs@ogre.example.lv", subject="Kā izveidot atskaiti?")
    pipeline("consultation", MONDAY_1000).process(
        inbound_from_email(mail, "municipal", MONDAY_1000)
    )
    assert [item.kind for item in outbox(sessions)] == ["acknowledgement"]


def test_an_unsure_guess_is_not_refused(world):
    sessions, _desks, pipeline = world
    mail = make_mail(sender="peteris@ogre.example.lv", subject="?")
    result = pipeline("consultation", MONDAY_1000, confidence=0.3).process(
        inbound_from_email(mail, "municipal", MONDAY_1000)
    )
    assert [item.kind for item in outbox(sessions)] == ["acknowledgement"]
    with sessions() as session:
        assert session.get(Ticket, result.ticket_id).status == TicketStatus.OPEN


def test_a_suspension_at_three_in_the_morning_is_answered_at_once(world):
    sessions, _desks, pipeline = world
    mail = make_mail(
        to="eparaksts@example.lv",
        sender="janis@example.com",
        subject="Nozagts telefons",
        body="Lūdzu apturiet manu sertifikātu!",
    )
    result = pipeline("suspension", SUNDAY_0300).process(
        inbound_from_email(mail, "eparaksts", SUNDAY_0300)
    )
    [reply] = outbox(sessions)
    assert reply.kind == "urgent_route"
    assert reply.created_at == SUNDAY_0300  # at once, not at Monday's opening
    assert "67108787" in reply.body_text and "eparaksts.lv" in reply.body_text
    assert result.ticket_number in reply.subject
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.urgent and ticket.status == TicketStatus.OPEN
        assert ticket.clock_start == SUNDAY_0300 == ticket.response_due


def test_staff_change_the_category_and_the_person_is_told_why_and_when(world):
    sessions, desks, pipeline = world
    mail = make_mail(sender="it.vaditajs@ogre.example.lv", subject="Atskaite")
    result = pipeline("consultation", MONDAY_1000).process(
        inbound_from_email(mail, "municipal", MONDAY_1000)
    )
    later = MONDAY_1000 + dt.timedelta(minutes=30)
    actions = StaffActions(sessions, desks, TemplateRenderer(), clock=FixedClock(later))
    with pytest.raises(InvalidInput, match="needs a reason") as refused:
        actions.change_category(result.ticket_number, "serious_error", "", "Jānis")
    assert refused.value.field == "reason"
    actions.change_category(
        result.ticket_number,
        "serious_error",
        "Atskaišu modulis nedarbojas un apiešanas ceļa nav.",
        "Jānis",
    )
    notice = outbox(sessions)[-1]
    assert notice.kind == "recategorisation"
    assert "Konsultācija" in notice.body_text and "Nopietna kļūda" in notice.body_text
    assert "apiešanas ceļa nav" in notice.body_text
    # Serious error: 2 business hours from the receipt (Mon 10:00) → Mon 12:00.
    assert "pirmdien, 2026. gada 30. novembrī plkst. 12:00" in notice.body_text
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.category == "serious_error" and ticket.urgent
        assert ticket.response_due == dt.datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
        [decision] = session.scalars(select(Decision)).all()
        assert (decision.from_value, decision.to_value, decision.staff) == (
            "consultation",
            "serious_error",
            "Jānis",
        )
        assert decision.created_at == later


def test_staff_override_a_refusal(world):
    sessions, desks, pipeline = world
    mail = make_mail(sender="peteris@ogre.example.lv", subject="Kā izveidot atskaiti?")
    result = pipeline("consultation", MONDAY_1000).process(
        inbound_from_email(mail, "municipal", MONDAY_1000)
    )
    StaffActions(sessions, desks, TemplateRenderer(), clock=FixedClock(MONDAY_1000)).confirm(
        result.ticket_number, "Jānis", "Vadītāja atļāva"
    )
    assert [i.kind for i in outbox(sessions)] == ["refusal", "refusal_withdrawn"]
    with sessions() as session:
        assert session.get(Ticket, result.ticket_id).status == TicketStatus.OPEN


def test_reply_and_resolve_send_their_messages(world):
    sessions, desks, pipeline = world
    mail = make_mail(sender="it.vaditajs@ogre.example.lv", subject="Atskaite")
    result = pipeline("error", MONDAY_1000, language="en").process(
        inbound_from_email(mail, "municipal", MONDAY_1000)
    )
    replied_at = MONDAY_1000 + dt.timedelta(hours=1)
    clock = FixedClock(replied_at)
    actions = StaffActions(
        sessions,
        desks,
        TemplateRenderer(),
        clock=clock,
        staff_names={"jberzins": "Jānis Bērziņš"},
    )
    actions.reply(result.ticket_number, "Please use CSV export\nuntil Friday.", "jberzins")
    resolved_at = MONDAY_1000 + dt.timedelta(days=2)
    clock.set(resolved_at)
    actions.resolve(result.ticket_number, "Jānis Bērziņš")
    items = outbox(sessions)
    assert [i.kind for i in items] == ["acknowledgement", "staff_reply", "resolution"]
    assert "Please use CSV export\nuntil Friday." in items[1].body_text
    assert "Jānis Bērziņš" in items[1].body_text and "jberzins" not in items[1].body_text
    assert build_email(items[1])["In-Reply-To"].startswith("<")  # threaded under the person's mail
    assert "https://atbalsts.example.lv/aptauja" in items[2].body_text
    assert result.ticket_number in items[2].subject
    with sessions() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket.first_response_at == replied_at and ticket.resolved_at == resolved_at
        assert ticket.status == TicketStatus.RESOLVED
    with pytest.raises(Conflict, match="already resolved"):
        actions.resolve(result.ticket_number, "Jānis")


def test_clients_csv_import_names_the_bad_row():
    good = (
        "client,desk,domain,address,name,representative\n"
        "Ādažu novads,municipal,adazi.example.lv,it@adazi.example.lv,IT,jā\n"
        "Ādažu novads,municipal,,gramatvediba@adazi.example.lv,,nē\n"
    )
    [record] = parse_clients_csv(io.StringIO(good), "clients.csv")
    assert record.domains == ("adazi.example.lv",)
    assert record.members == (
        ("it@adazi.example.lv", "IT", True),
        ("gramatvediba@adazi.example.lv", None, False),
    )
    bad = "client,desk,address,representative\nX,municipal,a@b.lv,maybe\n"
    with pytest.raises(ValueError, match=r"bad.csv:2: column 'representative'"):
        parse_clients_csv(io.StringIO(bad), "bad.csv")
