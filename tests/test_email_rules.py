"""The classic duplicate and loop traps, and the rules for who gets an acknowledgement."""

from __future__ import annotations

import datetime as dt
import hashlib
import smtplib
import threading
import time

import pytest
from sqlalchemy import func, select

from tests.helpers import QueuedSmtp, make_mail
from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.intake.message import Attachment, Bounce
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.quarantine import held, retry
from triage_desk.responders.email_sender import build_email
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    Message,
    OutboxItem,
    QuarantineStatus,
    QueuedInbound,
    RequesterAddress,
    StoredAttachment,
    Ticket,
    TicketStatus,
)

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga


@pytest.fixture
def env(database_url, example_config, classifier):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    rules = EmailConfig(
        staff_addresses=["janis.staff@example.lv"],
        acknowledgements_per_sender_per_hour=3,
        trusted_authserv_ids=["mx.example.lv"],
    )
    pipeline = IntakePipeline(
        sessions,
        Desks(example_config),
        classifier,
        TemplateRenderer(),
        rules=rules,
        now=lambda: NOW,
    )
    yield pipeline, sessions, EmailIntake(sessions, pipeline, rules)
    engine.dispose()


def count(sessions, model, *where) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def ingest(pipeline, raw, received=NOW, desk="municipal"):
    return pipeline.process(inbound_from_email(raw, desk, received))


def test_one_mail_to_two_desk_addresses_makes_one_ticket(env):
    pipeline, sessions, _intake = env
    raw = make_mail(
        to="atbalsts@example.lv",
        extra_headers={"Cc": "eparaksts@example.lv"},
        message_id="<both@novads.example.lv>",
    )
    first = ingest(pipeline, raw, desk="municipal")
    second = ingest(pipeline, raw, desk="eparaksts")  # the copy in the other desk's mailbox
    assert second.duplicate and second.ticket_id == first.ticket_id
    assert (count(sessions, Ticket), count(sessions, OutboxItem)) == (1, 1)


def test_the_same_copies_in_one_batch_make_one_ticket(env):
    pipeline, sessions, _intake = env
    raw = make_mail(message_id="<twice@novads.example.lv>")
    results = pipeline.process_many([inbound_from_email(raw, "municipal", NOW)] * 2)
    assert results[1].duplicate and results[0].ticket_id == results[1].ticket_id
    assert count(sessions, OutboxItem) == 1


def test_old_mail_is_imported_without_acknowledgement(env):
    pipeline, _sessions, _intake = env
    old = ingest(pipeline, make_mail(), received=NOW - dt.timedelta(days=3))
    fresh = ingest(pipeline, make_mail(), received=NOW - dt.timedelta(hours=2))
    assert old.created_ticket and not old.acknowledged
    assert "more than 24 h ago" in old.no_ack_reason
    assert fresh.acknowledged


# A question, not an emergency: urgent first replies skip the per-sender limit.
QUESTION = "Labdien! Kā pievienot jaunu lietotāju un piešķirt viņam tiesības?"


def test_at_most_n_acknowledgements_per_sender_per_hour(env):
    pipeline, sessions, _intake = env
    results = [
        ingest(pipeline, make_mail(subject=f"Jautājums {n}", body=QUESTION)) for n in range(5)
    ]
    assert [r.acknowledged for r in results] == [True, True, True, False, False]
    assert "limit of 3" in results[3].no_ack_reason
    assert count(sessions, Ticket) == 5  # every message is still a ticket
    other = ingest(pipeline, make_mail(sender="other@novads.example.lv"))
    assert other.acknowledged


def test_the_limit_holds_inside_one_batch_too(env):
    pipeline, _sessions, _intake = env
    batch = [
        inbound_from_email(make_mail(subject=f"Q{n}", body=QUESTION), "municipal", NOW)
        for n in range(5)
    ]
    assert [r.acknowledged for r in pipeline.process_many(batch)] == [True] * 3 + [False] * 2


def test_mail_from_our_own_address_is_never_answered(env):
    pipeline, _sessions, _intake = env
    result = ingest(pipeline, make_mail(sender="Atbalsts <atbalsts@example.lv>"))
    assert not result.acknowledged and "our own" in result.no_ack_reason


def test_a_staff_reply_from_their_own_client_joins_the_ticket(env):
    pipeline, sessions, _intake = env
    first = ingest(pipeline, make_mail(message_id="<question@novads.example.lv>"))
    # The staff member answers the person's mail (Reply All), not our acknowledgement.
    reply = make_mail(
        sender="Jānis <janis.staff@example.lv>",
        subject="Re: Nevaru izveidot",
        body="Labdien, izlabojām.",
        extra_headers={
            "In-Reply-To": "<question@novads.example.lv>",
            # Our mail server vouches for it: a From header alone is no proof.
            "Authentication-Results": "mx.example.lv; dkim=pass header.d=example.lv",
        },
    )
    later = NOW + dt.timedelta(minutes=40)
    second = ingest(pipeline, reply, received=later)
    assert second.ticket_id == first.ticket_id and not second.created_ticket
    assert not second.acknowledged
    with sessions() as session:
        ticket = session.get(Ticket, first.ticket_id)
        assert ticket.first_response_at == later
        assert ticket.status == TicketStatus.ANSWERED
        kinds = session.scalars(
            select(Message.author_kind).where(Message.ticket_id == ticket.id).order_by(Message.id)
        ).all()
        assert kinds == ["person", "desk", "staff"]


def test_a_bounce_joins_the_bounced_ticket_and_marks_the_address(env):
    pipeline, sessions, _intake = env
    first = ingest(pipeline, make_mail(sender="gone@novads.example.lv"))
    with sessions() as session:
        our_id = build_email(session.scalar(select(OutboxItem)))["Message-ID"].strip("<>")
    bounce_mail = make_mail(
        sender="MAILER-DAEMON@mx.novads.example.lv",
        subject="Undelivered Mail Returned to Sender",
        body="The mail system: <gone@novads.example.lv>: user unknown",
    )
    parsed = inbound_from_email(bounce_mail, "municipal", NOW)
    bounce = parsed.__class__(
        **{
            **parsed.__dict__,
            "bounce": Bounce(
                permanent=True,
                failed_addresses=("gone@novads.example.lv",),
                original_message_ids=(our_id,),
            ),
        }
    )
    result = pipeline.process(bounce)
    assert result.ticket_id == first.ticket_id and not result.acknowledged
    with sessions() as session:
        address = session.scalar(
            select(RequesterAddress).where(RequesterAddress.address == "gone@novads.example.lv")
        )
        assert address.undeliverable and first.ticket_number in address.undeliverable_reason
    again = ingest(pipeline, make_mail(sender="gone@novads.example.lv", subject="Vēlreiz"))
    assert again.created_ticket and not again.acknowledged
    assert "undeliverable" in again.no_ack_reason


def test_attachments_are_stored_with_metadata_even_when_bytes_are_dropped(env):
    pipeline, sessions, _intake = env
    parsed = inbound_from_email(make_mail(), "municipal", NOW)
    with_files = parsed.__class__(
        **{
            **parsed.__dict__,
            "attachments": (
                Attachment("atskaite.pdf", "application/pdf", b"%PDF-1.4 tiny", size=13),
                Attachment(
                    "liels.zip",
                    "application/zip",
                    b"",
                    size=50_000_000,
                    dropped_reason="over the 20 MiB attachment limit",
                ),
            ),
        }
    )
    pipeline.process(with_files)
    with sessions() as session:
        stored = session.scalars(select(StoredAttachment).order_by(StoredAttachment.id)).all()
        assert [(a.filename, a.size, a.data is None) for a in stored] == [
            ("atskaite.pdf", 13, False),
            ("liels.zip", 50_000_000, True),
        ]
        assert stored[0].md5 == hashlib.md5(b"%PDF-1.4 tiny").hexdigest()
        assert stored[1].dropped_reason.startswith("over the")


def test_a_mail_that_takes_too_long_is_quarantined_and_can_be_retried(env, example_config):
    pipeline, sessions, _intake = env
    strict = EmailIntake(sessions, pipeline, EmailConfig(processing_time_limit_seconds=1e-9))
    good_neighbour = RawMail(make_mail(subject="Labs"), "municipal", "smtp", NOW)
    slow = RawMail(make_mail(subject="Lēns"), "municipal", "smtp", NOW)
    outcomes = EmailIntake(sessions, pipeline, EmailConfig()).ingest_many([good_neighbour])
    quarantined = strict.ingest_many([slow])
    assert outcomes[0].result is not None and outcomes[0].result.created_ticket
    assert quarantined[0].result is None and quarantined[0].reason == "timeout"
    with sessions() as session:
        [item] = held(session)
        assert item.raw == slow.raw and item.reason == "timeout"
        assert "longer than" in item.detail
    still = retry(sessions, strict, item.id)
    assert not still.released and still.reason == "timeout"
    released = retry(sessions, strict, item.id, time_limit_seconds=30)
    assert released.released and released.ticket_number.startswith("MUN-2026-")
    with sessions() as session:
        assert held(session) == []
        [item] = held(session, include_released=True)
        assert item.status == QuarantineStatus.RELEASED and item.attempts == 3
    with pytest.raises(LookupError, match="already released"):
        retry(sessions, strict, item.id)


def test_many_concurrent_smtp_clients_each_get_their_ticket(sqlite_url, example_config, classifier):
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    pipeline = IntakePipeline(
        sessions,
        desks,
        classifier,
        TemplateRenderer(),
        rules=EmailConfig(
            acknowledgements_per_sender_per_hour=1000,
            automatic_replies_per_desk_per_minute=1000,
        ),
    )
    intake = EmailIntake(sessions, pipeline, EmailConfig())
    smtp_queue = QueuedSmtp(sessions, intake, idle_seconds=0.2)
    commits: list[int] = []
    enqueue = smtp_queue.queue.enqueue

    def counted(items):
        commits.append(len(items))
        return enqueue(items)

    smtp_queue.queue.enqueue = counted  # type: ignore[method-assign]
    smtp_queue.start()
    listener = SmtpListener(SmtpIntakeHandler(desks, smtp_queue.submit), "127.0.0.1", 0, 10**6)
    listener.start()
    replies: list[bytes] = []
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as smtp:
                for k in range(5):
                    smtp.ehlo()
                    smtp.mail(f"user{n}@novads.example.lv")
                    smtp.rcpt("atbalsts@example.lv")
                    code, text = smtp.data(
                        make_mail(
                            sender=f"user{n}@novads.example.lv", subject=f"Pieprasījums {n}-{k}"
                        )
                    )
                    assert code == 250
                    replies.append(text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 60
        while count(sessions, QueuedInbound) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
        smtp_queue.close()
    assert not errors
    references = {text.split()[-1] for text in replies}
    assert len(replies) == 60 and len(references) == 60  # every 250 names its own queue row
    assert sum(commits) == 60 and len(commits) < 60  # sessions that waited shared a commit
    assert count(sessions, QueuedInbound) == 0
    assert count(sessions, Ticket) == 60 and count(sessions, OutboxItem) == 60
    engine.dispose()


def test_a_reply_in_the_same_batch_as_its_parent_joins_its_ticket(env):
    pipeline, sessions, _intake = env
    parent = make_mail(message_id="<parent@novads.example.lv>", subject="Atskaite")
    reply = make_mail(
        subject="Re: Atskaite",
        body="Vēl viens fakts.",
        extra_headers={"In-Reply-To": "<parent@novads.example.lv>"},
    )
    first, second = pipeline.process_many(
        [inbound_from_email(parent, "municipal", NOW), inbound_from_email(reply, "municipal", NOW)]
    )
    assert first.created_ticket and not second.created_ticket
    assert second.ticket_id == first.ticket_id
    assert (count(sessions, Ticket), count(sessions, OutboxItem)) == (1, 1)


def _original_and_reply(reply_header: str) -> tuple[bytes, bytes]:
    original = make_mail(message_id="<original@novads.example.lv>", subject="Atskaite")
    reply = make_mail(
        message_id="<reply@novads.example.lv>",
        subject="Re: Atskaite",
        body="Papildinu: tas pats notiek arī ar ceturkšņa atskaiti.",
        extra_headers={reply_header: "<original@novads.example.lv>"},
    )
    return original, reply


@pytest.mark.parametrize("reply_header", ["In-Reply-To", "References"])
def test_an_original_stored_after_its_reply_joins_the_replys_ticket(env, reply_header):
    # The original was delayed (greylisting, a parallel SMTP session): its reply came first.
    pipeline, sessions, _intake = env
    original, reply = _original_and_reply(reply_header)
    first = pipeline.process(inbound_from_email(reply, "municipal", NOW))
    late = pipeline.process(inbound_from_email(original, "municipal", NOW))
    assert first.created_ticket and not late.created_ticket
    assert late.ticket_id == first.ticket_id
    # One conversation, one acknowledgement.
    assert (count(sessions, Ticket), count(sessions, OutboxItem)) == (1, 1)
    assert count(sessions, Message, Message.direction == "in") == 2


def test_an_original_after_its_reply_in_the_same_batch_joins_its_ticket(env):
    pipeline, sessions, _intake = env
    original, reply = _original_and_reply("In-Reply-To")
    first, late = pipeline.process_many(
        [
            inbound_from_email(reply, "municipal", NOW),
            inbound_from_email(original, "municipal", NOW),
        ]
    )
    assert first.created_ticket and not late.created_ticket
    assert late.ticket_id == first.ticket_id
    assert (count(sessions, Ticket), count(sessions, OutboxItem)) == (1, 1)


def test_two_replies_to_a_missing_original_stay_apart_and_it_joins_the_first(env):
    # People answering the same circular (sent outside the desk) are separate requests.
    pipeline, sessions, _intake = env
    original, reply = _original_and_reply("In-Reply-To")
    other_reply = make_mail(
        message_id="<reply2@citur.example.lv>",
        sender="Pēteris Ozols <peteris@citur.example.lv>",
        subject="Re: Atskaite",
        body="Mums tas pats.",
        extra_headers={"In-Reply-To": "<original@novads.example.lv>"},
    )
    first = pipeline.process(inbound_from_email(reply, "municipal", NOW))
    second = pipeline.process(inbound_from_email(other_reply, "municipal", NOW))
    late = pipeline.process(inbound_from_email(original, "municipal", NOW))
    assert first.created_ticket and second.created_ticket
    assert second.ticket_id != first.ticket_id
    assert late.ticket_id == first.ticket_id and not late.created_ticket
    assert count(sessions, Ticket) == 2


def test_a_mail_named_by_nobody_still_opens_its_own_ticket(env):
    pipeline, sessions, _intake = env
    _original, reply = _original_and_reply("In-Reply-To")
    unrelated = make_mail(message_id="<other@novads.example.lv>", subject="Cits jautājums")
    pipeline.process(inbound_from_email(reply, "municipal", NOW))
    other = pipeline.process(inbound_from_email(unrelated, "municipal", NOW))
    assert other.created_ticket
    assert count(sessions, Ticket) == 2


def test_a_mail_quarantined_twice_is_one_row(env):
    _pipeline, sessions, intake = env
    strict = EmailIntake(sessions, intake.pipeline, EmailConfig(processing_time_limit_seconds=1e-9))
    mail = RawMail(make_mail(subject="Lēns"), "municipal", "smtp", NOW)
    first = strict.ingest_many([mail])[0]
    again = strict.ingest_many([mail])[0]
    assert first.quarantine_id == again.quarantine_id
    with sessions() as session:
        assert len(held(session)) == 1
