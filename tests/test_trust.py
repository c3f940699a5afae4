"""Issue 16 items 2-4: nothing accepted is dropped, nothing forged steers the desk, urgent
first replies are never swallowed. Each test is an attack or a trap reproduced on the old
main, through the real pipeline on both databases."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import QueuedSmtp, make_mail
from triage_desk.app import sync_clients
from triage_desk.cli import main
from triage_desk.clock import FixedClock
from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.authentication import authenticated_domains, proves_address
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.email_sender import build_email
from triage_desk.responders.outbox import echoed_subject
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.clients import ClientRecord, representatives_of, upsert_clients
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    AuditEvent,
    Client,
    Message,
    OutboxItem,
    QueuedInbound,
    RequesterAddress,
    Ticket,
    TicketStatus,
)

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga
SATURDAY_3AM = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)  # Saturday 03:00 in Riga
QUESTION = "Labdien! Kā pievienot jaunu lietotāju un piešķirt viņam tiesības?"
EMERGENCY = "Sistēma vispār neatveras, visā pašvaldībā nevienam nestrādā."
SUSPENSION = (
    "Labdien! Vakar tramvajā man nozaga telefonu ar eParaksts mobile. Lūdzu nekavējoties "
    "apturēt manu eParaksts mobile sertifikātu."
)
STAFF_MAILBOX = "atbalsts-komanda@example.lv"  # desks.municipal.staff_address
TRUSTED = "mx.example.lv"


@pytest.fixture
def env(database_url, example_config, classifier):
    """A pipeline factory over one database: ``make(**rules)``; the clock can be moved."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    clock = FixedClock(NOW + dt.timedelta(minutes=1))

    def make(**rules) -> IntakePipeline:
        return IntakePipeline(
            sessions,
            Desks(example_config),
            classifier,
            TemplateRenderer(),
            rules=EmailConfig(**rules),
            now=clock,
        )

    yield make, sessions, clock, database_url
    engine.dispose()


def ingest(pipeline, raw, received=NOW, desk="municipal"):
    return pipeline.process(inbound_from_email(raw, desk, received))


def count(sessions, model, *where) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def audits(sessions, action):
    with sessions() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def first_replies(sessions) -> list[OutboxItem]:
    with sessions() as session:
        return session.scalars(
            select(OutboxItem)
            .where(OutboxItem.dedupe_key.startswith("ack:"))
            .order_by(OutboxItem.id)
        ).all()


def staff_notices(sessions, kind) -> list[OutboxItem]:
    with sessions() as session:
        return session.scalars(
            select(OutboxItem).where(OutboxItem.kind == kind).order_by(OutboxItem.id)
        ).all()


# --- item 2: a reused Message-ID ---------------------------------------------------------------


def test_a_different_mail_under_a_known_message_id_gets_its_own_ticket_and_is_flagged(env, caplog):
    make, sessions, _clock, _url = env
    pipeline = make()
    first = ingest(pipeline, make_mail(subject="Atskaite", message_id="<1@localhost>"))
    with caplog.at_level(logging.WARNING, logger="triage_desk.intake.pipeline"):
        second = ingest(
            pipeline,
            make_mail(
                sender="peteris@citur.example.lv",
                subject="Cits jautājums",
                body=QUESTION,
                message_id="<1@localhost>",
            ),
        )
    assert second.created_ticket and not second.duplicate and second.acknowledged
    assert second.ticket_id != first.ticket_id
    with sessions() as session:
        stored = session.get(Message, second.message_id)
        assert stored.external_id.startswith("1@localhost#") and len(stored.external_id) == 24
        reply = session.scalar(select(OutboxItem).where(OutboxItem.ticket_id == second.ticket_id))
        # The id the person's client knows:
        assert build_email(reply)["In-Reply-To"] == "<1@localhost>"
    [flag] = audits(sessions, "message_id_reused")
    assert flag.ticket_id == second.ticket_id
    assert flag.details == {"message_id": "1@localhost", "stored_as": stored.external_id}
    assert "reuses the id <1@localhost>" in caplog.text
    # Delivered again, each of the two is a duplicate: no third ticket, no third reply.
    again = ingest(
        pipeline,
        make_mail(
            sender="peteris@citur.example.lv",
            subject="Cits jautājums",
            body=QUESTION,
            message_id="<1@localhost>",
        ),
    )
    assert again.duplicate and again.ticket_id == second.ticket_id
    assert ingest(pipeline, make_mail(subject="Atskaite", message_id="<1@localhost>")).duplicate
    assert (count(sessions, Ticket), len(first_replies(sessions))) == (2, 2)


def test_different_mails_under_one_message_id_in_one_batch_are_all_kept(env):
    make, sessions, _clock, _url = env
    pipeline = make()
    mails = [
        make_mail(sender=f"user{n}@novads.example.lv", body=f"{QUESTION} ({n})", message_id="<x@y>")
        for n in range(3)
    ]
    results = pipeline.process_many([inbound_from_email(m, "municipal", NOW) for m in mails])
    assert [r.created_ticket for r in results] == [True, True, True]
    assert len({r.ticket_id for r in results}) == 3
    assert len(audits(sessions, "message_id_reused")) == 2


def test_the_same_mail_with_other_transport_headers_is_still_a_duplicate(env):
    # One mail delivered twice (a second MX, a retry through another relay): the bytes
    # differ in their Received lines, the mail is the same.
    make, sessions, _clock, _url = env
    pipeline = make()
    raw = make_mail(message_id="<same@novads.example.lv>")
    relayed = b"Received: from mx2.example.lv by mx.example.lv; Mon, 30 Nov 2026\r\n" + raw
    first = ingest(pipeline, raw)
    second = ingest(pipeline, relayed)
    assert second.duplicate and second.ticket_id == first.ticket_id
    assert (count(sessions, Ticket), len(first_replies(sessions))) == (1, 1)


def test_two_mails_sent_over_smtp_with_one_message_id_both_become_tickets(env, example_config):
    # The reproduction: the second got "250 queued" and then vanished.
    make, sessions, _clock, _url = env
    intake = EmailIntake(sessions, make(), EmailConfig())
    smtp_queue = QueuedSmtp(sessions, intake, idle_seconds=0.2)
    smtp_queue.start()
    listener = SmtpListener(
        SmtpIntakeHandler(Desks(example_config), smtp_queue.submit), "127.0.0.1", 0, 10**6
    )
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as smtp:
            for n, sender in enumerate(["ilze@novads.example.lv", "janis@citur.example.lv"]):
                mail = make_mail(sender=sender, body=f"{QUESTION} {n}", message_id="<1@localhost>")
                assert smtp.sendmail(sender, ["atbalsts@example.lv"], mail) == {}  # 250
        deadline = time.monotonic() + 60
        while count(sessions, QueuedInbound) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
        smtp_queue.close()
    assert count(sessions, QueuedInbound) == 0
    assert count(sessions, Ticket) == 2 and len(first_replies(sessions)) == 2


def test_spooled_mails_that_share_a_message_id_are_neither_lost_nor_quarantined(env):
    make, sessions, _clock, _url = env
    pipeline = make()
    intake = EmailIntake(sessions, pipeline, EmailConfig())
    mails = [
        RawMail(
            make_mail(subject=f"Nr. {n}", body=f"{QUESTION} {n}", message_id="<1@localhost>"),
            "municipal",
            "smtp",
            NOW,
        )
        for n in range(2)
    ]
    outcomes = intake.ingest_many(mails[:1]) + intake.ingest_many(mails[1:])
    assert all(o.result is not None and o.result.created_ticket for o in outcomes)
    assert count(sessions, Ticket) == 2


# --- item 3: bounces -----------------------------------------------------------------------


def dsn(original_id: str, failed: str, status: str = "5.1.1") -> bytes:
    """A delivery status notification as Postfix writes one, with a lure in its free text."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.novads.example.lv>\r\n"
        "To: atbalsts@example.lv\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.novads.example.lv>\r\n"
        "Date: Mon, 30 Nov 2026 08:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Your mail is on hold. Log in at http://phish.example/release to release it.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.novads.example.lv\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 user unknown, see http://phish.example/x\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{original_id}>\r\nFrom: atbalsts@example.lv\r\nTo: {failed}\r\n\r\n"
        "--B--\r\n"
    ).encode()


def our_first_reply_id(sessions, ticket_id) -> str:
    with sessions() as session:
        item = session.scalar(select(OutboxItem).where(OutboxItem.ticket_id == ticket_id))
        return build_email(item)["Message-ID"].strip("<>")


def undeliverable(sessions, address) -> bool:
    with sessions() as session:
        return session.scalar(
            select(RequesterAddress.undeliverable).where(RequesterAddress.address == address)
        )


def test_a_forged_bounce_marks_nobody(env):
    make, sessions, _clock, _url = env
    pipeline = make()
    victim = "anna@novads.example.lv"
    ingest(pipeline, make_mail(sender=victim, body=QUESTION))
    forged = make_mail(
        sender="MAILER-DAEMON@mx.attacker.example",
        subject="Undelivered Mail Returned to Sender",
        body="Delivery failed.",
        extra_headers={"X-Failed-Recipients": victim},
    )
    result = ingest(pipeline, forged)
    assert not result.acknowledged
    assert not undeliverable(sessions, victim)
    [event] = audits(sessions, "bounce")
    assert event.details["not_ours"] == [victim] and event.details["marked"] == []
    assert staff_notices(sessions, "undeliverable_notice") == []
    later = ingest(pipeline, make_mail(sender=victim, subject="Vēl", body=QUESTION))
    assert later.acknowledged


def test_a_bounce_of_our_mail_to_someone_else_does_not_mark_the_victim(env):
    # The attacker bounces the acknowledgement they got themselves, naming the victim.
    make, sessions, _clock, _url = env
    pipeline = make()
    victim, attacker = "anna@novads.example.lv", "mallory@citur.example.lv"
    ingest(pipeline, make_mail(sender=victim, body=QUESTION))
    theirs = ingest(pipeline, make_mail(sender=attacker, body=QUESTION))
    ingest(pipeline, dsn(our_first_reply_id(sessions, theirs.ticket_id), victim))
    assert not undeliverable(sessions, victim)


def test_a_real_bounce_marks_the_address_tells_staff_plainly_and_can_be_cleared(env):
    make, sessions, _clock, database_url = env
    pipeline = make()
    gone = "gone@novads.example.lv"
    first = ingest(pipeline, make_mail(sender=gone, body=QUESTION))
    bounce = ingest(pipeline, dsn(our_first_reply_id(sessions, first.ticket_id), gone))
    assert bounce.ticket_id == first.ticket_id and not bounce.acknowledged
    assert undeliverable(sessions, gone)
    [notice] = staff_notices(sessions, "undeliverable_notice")
    assert notice.recipient == STAFF_MAILBOX
    assert gone in notice.body_text and "5.1.1" in notice.body_text
    assert first.ticket_number in notice.body_text
    assert "phish" not in notice.body_text and "Log in" not in notice.body_text
    assert "phish" not in notice.subject
    assert not ingest(pipeline, make_mail(sender=gone, subject="Vēl", body=QUESTION)).acknowledged

    runner, cli_env = CliRunner(), {"TRIAGE_DATABASE_URL": database_url, "COLUMNS": "200"}
    listed = runner.invoke(
        main, ["--config", str(EXAMPLE_CONFIG), "address", "list", "--json"], env=cli_env
    )
    assert listed.exit_code == 0, listed.output
    assert f'"address": "{gone}"' in listed.output and "5.1.1" in listed.output
    cleared = runner.invoke(
        main, ["--config", str(EXAMPLE_CONFIG), "address", "clear", gone], env=cli_env
    )
    assert cleared.exit_code == 0, cleared.output
    assert not undeliverable(sessions, gone)
    assert audits(sessions, "undeliverable_cleared")[0].details == {"address": gone}
    unknown = runner.invoke(
        main, ["--config", str(EXAMPLE_CONFIG), "address", "clear", "x@nowhere.lv"], env=cli_env
    )
    assert unknown.exit_code != 0 and "no known email address" in unknown.output
    again = ingest(pipeline, make_mail(sender=gone, subject="Atkal strādā", body=QUESTION))
    assert again.acknowledged


# --- item 3: staff replies need evidence ----------------------------------------------------


def test_authentication_results_are_read_only_from_trusted_servers():
    values = [
        "mx.example.lv; dkim=pass (2048-bit key) header.d=Example.LV header.i=@example.lv; "
        "spf=pass smtp.mailfrom=janis@staff.example.lv",
        "evil.example; dkim=pass header.d=attacker.lv",
        "mx.example.lv; dkim=fail header.d=failed.lv; spf=softfail smtp.mailfrom=soft.lv",
        "not a header at all ;;",
    ]
    domains = authenticated_domains(values, [TRUSTED])
    assert domains == {"example.lv", "staff.example.lv"}
    assert authenticated_domains(values, []) == frozenset()
    assert proves_address(domains, "janis@example.lv")
    assert proves_address(domains, "janis@riga.example.lv")  # relaxed alignment
    assert not proves_address(domains, "janis@attacker.lv")
    assert not proves_address(domains, "janis@notexample.lv")


STAFF_RULES = {"staff_addresses": ["janis.staff@example.lv"], "trusted_authserv_ids": [TRUSTED]}


def staff_mail(subject, authentication=None, in_reply_to=None) -> bytes:
    headers = {}
    if authentication:
        headers["Authentication-Results"] = authentication
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
    return make_mail(
        sender="Jānis <janis.staff@example.lv>",
        subject=subject,
        body="Labdien, izlabojām.",
        extra_headers=headers,
    )


@pytest.mark.parametrize(
    "authentication",
    [
        None,
        "evil.example; dkim=pass header.d=example.lv",  # not our server
        f"{TRUSTED}; dkim=fail header.d=example.lv; spf=fail smtp.mailfrom=example.lv",
        f"{TRUSTED}; dkim=pass header.d=attacker.lv",  # another domain's signature
    ],
)
def test_a_forged_staff_reply_neither_answers_the_ticket_nor_joins_it(env, authentication):
    make, sessions, _clock, _url = env
    pipeline = make(**STAFF_RULES)
    person = ingest(pipeline, make_mail(subject="Avārija", body=EMERGENCY))
    forged = ingest(pipeline, staff_mail(f"Re: [{person.ticket_number}] Avārija", authentication))
    assert forged.ticket_id != person.ticket_id
    with sessions() as session:
        ticket = session.get(Ticket, person.ticket_id)
        assert ticket.first_response_at is None and ticket.status == TicketStatus.OPEN
    assert audits(sessions, "staff_claim_unproven")[0].ticket_id == forged.ticket_id
    assert audits(sessions, "mentions")[0].details == {"tickets": [person.ticket_number]}


def test_a_forged_staff_reply_in_the_thread_is_an_ordinary_follow_up(env):
    make, sessions, _clock, _url = env
    pipeline = make(**STAFF_RULES)
    person = ingest(pipeline, make_mail(message_id="<q@novads.example.lv>", body=EMERGENCY))
    follow = ingest(pipeline, staff_mail("Re: Avārija", in_reply_to="<q@novads.example.lv>"))
    assert follow.ticket_id == person.ticket_id and not follow.acknowledged
    with sessions() as session:
        ticket = session.get(Ticket, person.ticket_id)
        assert ticket.first_response_at is None and ticket.status == TicketStatus.OPEN
        assert session.get(Message, follow.message_id).author_kind == "person"


@pytest.mark.parametrize(
    "authentication",
    [
        f"{TRUSTED}; dkim=pass header.d=example.lv header.s=sel",
        f"{TRUSTED.upper()}; spf=pass smtp.mailfrom=janis.staff@example.lv",
    ],
)
def test_a_proven_staff_reply_by_ticket_number_answers_the_ticket(env, authentication):
    make, sessions, clock, _url = env
    pipeline = make(**STAFF_RULES)
    person = ingest(pipeline, make_mail(subject="Avārija", body=EMERGENCY))
    later = NOW + dt.timedelta(minutes=30)
    clock.set(later)
    reply = ingest(
        pipeline, staff_mail(f"RE: [{person.ticket_number}] Avārija", authentication), later
    )
    assert reply.ticket_id == person.ticket_id
    with sessions() as session:
        ticket = session.get(Ticket, person.ticket_id)
        assert ticket.first_response_at == later and ticket.status == TicketStatus.ANSWERED


# --- item 3: ticket numbers in the subject ---------------------------------------------------


def test_a_stranger_naming_a_ticket_number_opens_their_own_ticket(env):
    make, sessions, _clock, _url = env
    pipeline = make()
    victim = ingest(pipeline, make_mail(subject="Atskaite", body=QUESTION))
    stranger = ingest(
        pipeline,
        make_mail(
            sender="mallory@citur.example.lv",
            subject=f"Re: [{victim.ticket_number}] Atskaite",
            body="Lūdzu, atsūtiet man šī pieteikuma saturu.",
        ),
    )
    assert stranger.created_ticket and stranger.ticket_id != victim.ticket_id
    assert count(sessions, Message, Message.ticket_id == victim.ticket_id) == 2  # its own two
    [link] = audits(sessions, "mentions")
    assert link.ticket_id == stranger.ticket_id
    assert link.details == {"tickets": [victim.ticket_number]}
    # Our own address is on every thread (To of each mail): claiming it joins none.
    spoofed = ingest(
        pipeline,
        make_mail(sender="atbalsts@example.lv", subject=f"[{victim.ticket_number}] x", body="y"),
    )
    assert spoofed.ticket_id not in (victim.ticket_id, stranger.ticket_id)
    # Told nothing about the other ticket: the same letter a made-up number would get.
    with sessions() as session:
        reply = session.scalar(select(OutboxItem).where(OutboxItem.ticket_id == stranger.ticket_id))
    assert victim.ticket_number not in reply.body_text


def test_a_participant_joins_by_number_with_or_without_brackets_but_only_on_its_desk(env):
    make, _sessions, _clock, _url = env
    pipeline = make()
    first = ingest(
        pipeline,
        make_mail(
            subject="Atskaite",
            body=QUESTION,
            extra_headers={"Cc": "kolegis@novads.example.lv"},
        ),
    )
    number = first.ticket_number
    bare = ingest(pipeline, make_mail(subject=f"Re: {number} papildinājums", body="Vēl fakts."))
    assert bare.ticket_id == first.ticket_id and not bare.created_ticket and not bare.acknowledged
    colleague = ingest(
        pipeline,
        make_mail(
            sender="kolegis@novads.example.lv", subject=f"[{number.lower()}] no manis", body="Jā."
        ),
    )
    assert colleague.ticket_id == first.ticket_id
    other_desk = ingest(
        pipeline, make_mail(subject=f"[{number}] eParaksts", body=QUESTION), desk="eparaksts"
    )
    assert other_desk.created_ticket and other_desk.ticket_id != first.ticket_id


# --- item 3: names others are told come from configuration -----------------------------------


def test_a_mail_cannot_name_a_representative_for_refusals(env, example_config):
    make, sessions, _clock, _url = env
    pipeline = make()
    sync_clients(sessions, example_config)  # it.nodala@novads.example.lv, no name configured
    lure = "URGENT call +371 20000000 or pay at http://pay.example"
    ingest(pipeline, make_mail(sender=f'"{lure}" <it.nodala@novads.example.lv>', body=QUESTION))
    with sessions() as session:
        client = session.scalar(select(Client).where(Client.name == "Example municipality"))
        assert representatives_of(client) == ["it.nodala@novads.example.lv"]
    with sessions.begin() as session:  # staff import a name: that one is used
        upsert_clients(
            session,
            [
                ClientRecord(
                    "Example municipality",
                    "municipal",
                    members=(("it.nodala@novads.example.lv", "Jānis Bērziņš", True),),
                )
            ],
        )
    with sessions() as session:
        client = session.scalar(select(Client).where(Client.name == "Example municipality"))
        assert representatives_of(client) == ["Jānis Bērziņš <it.nodala@novads.example.lv>"]


# --- item 3: backscatter ---------------------------------------------------------------------


def test_a_desk_wide_cap_holds_forged_senders_and_alerts_staff_once(env):
    make, sessions, clock, _url = env
    pipeline = make(automatic_replies_per_desk_per_minute=3, automatic_replies_per_desk_per_hour=5)
    forged = [
        inbound_from_email(
            make_mail(sender=f"victim{n}@citur.example.lv", body=f"{QUESTION} {n}"),
            "municipal",
            NOW,
        )
        for n in range(6)
    ]
    results = pipeline.process_many(forged)
    assert [r.acknowledged for r in results] == [True] * 3 + [False] * 3
    assert "per minute" in results[3].no_ack_reason
    assert count(sessions, Ticket) == 6  # stored all the same
    [alert] = staff_notices(sessions, "reply_limit_notice")
    assert alert.recipient == STAFF_MAILBOX
    assert all(r.ticket_number in alert.body_text for r in results[3:])
    # A minute later the minute's allowance is back, until the hour's is spent; the alert
    # is not repeated within the hour.
    clock.set(NOW + dt.timedelta(minutes=3))
    later = [
        ingest(pipeline, make_mail(sender=f"more{n}@citur.example.lv", body=f"{QUESTION} {n}"))
        for n in range(3)
    ]
    assert [r.acknowledged for r in later] == [True, True, False]
    assert "per hour" in later[2].no_ack_reason
    assert len(staff_notices(sessions, "reply_limit_notice")) == 1


def test_plus_addresses_share_their_base_addresss_allowance(env):
    make, _sessions, _clock, _url = env
    pipeline = make(acknowledgements_per_sender_per_hour=3)
    results = [
        ingest(pipeline, make_mail(sender=f"victim+{n}@citur.example.lv", body=f"{QUESTION} {n}"))
        for n in range(1, 6)
    ]
    assert [r.acknowledged for r in results] == [True, True, True, False, False]
    assert "per sender" in results[3].no_ack_reason


def test_the_echoed_subject_is_short_and_has_no_control_characters(env):
    make, sessions, _clock, _url = env
    pipeline = make()
    subject = "Atskaite \x1b]0;pwned\x07 \x1b[2J" + "garš " * 4000
    raw = make_mail(body=QUESTION).replace(
        b"Subject: Nevaru izveidot atskaiti", f"Subject: {subject}".encode()
    )
    result = ingest(pipeline, raw)
    [reply] = first_replies(sessions)
    assert result.acknowledged
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in reply.subject)
    assert len(reply.subject) <= 260 and reply.subject.endswith("…")  # ours + 200 of theirs
    assert "garš garš" in reply.subject
    assert echoed_subject("a\x00b\x07c\u202ed") == "a b cd"  # NUL, BEL, a bidi override


# --- item 3: auto-replies without the headers --------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("atbalsts+x@example.lv", "our own"),
        ("ATBALSTS+abc@EXAMPLE.LV", "our own"),
        (STAFF_MAILBOX, "staff notice mailbox"),
    ],
)
def test_our_own_plus_addresses_and_the_staff_mailbox_get_no_reply(env, sender, reason):
    make, _sessions, _clock, _url = env
    result = ingest(make(), make_mail(sender=sender, body=QUESTION))
    assert result.created_ticket and not result.acknowledged and reason in result.no_ack_reason


def test_a_bot_that_strips_every_header_gets_one_acknowledgement_not_two(env):
    make, sessions, _clock, _url = env
    pipeline = make()
    bot = "robots@citur.example.lv"
    first = ingest(pipeline, make_mail(sender=bot, body=QUESTION))
    [ack] = first_replies(sessions)
    quoted = "\r\n".join("> " + line for line in ack.body_text.splitlines())
    echo = ingest(
        pipeline,
        make_mail(sender=bot, subject="Saņemts", body=f"Jūsu vēstule saņemta.\n\n{quoted}"),
    )
    assert echo.created_ticket and not echo.acknowledged
    assert "quotes our own automatic reply" in echo.no_ack_reason
    # A person who writes the number in a new mail, without quoting us, is answered.
    person = ingest(
        pipeline,
        make_mail(sender=bot, subject="Jauns", body=f"Par {first.ticket_number}: vēl jautājums."),
    )
    assert person.acknowledged


# --- item 4: urgent first replies are never swallowed ---------------------------------------


def test_the_24_7_route_skips_the_per_sender_limit_at_night(env):
    make, sessions, clock, _url = env
    clock.set(SATURDAY_3AM + dt.timedelta(minutes=1))
    pipeline = make(acknowledgements_per_sender_per_hour=3)
    questions = [
        ingest(pipeline, make_mail(subject=f"J{n}", body=f"{QUESTION} {n}"), SATURDAY_3AM)
        for n in range(4)
    ]
    assert [q.acknowledged for q in questions] == [True, True, True, False]
    suspension = ingest(
        pipeline, make_mail(subject="Nozagts telefons", body=SUSPENSION), SATURDAY_3AM, "eparaksts"
    )
    assert suspension.category == "suspension"
    assert suspension.acknowledged
    with sessions() as session:
        kind = session.scalar(
            select(OutboxItem.kind).where(OutboxItem.ticket_id == suspension.ticket_id)
        )
    assert kind == "urgent_route"


def test_an_urgent_reply_held_by_the_desk_wide_cap_alerts_staff_at_once(env):
    make, sessions, _clock, _url = env
    pipeline = make(automatic_replies_per_desk_per_minute=1)
    assert ingest(pipeline, make_mail(sender="a@citur.example.lv", body=QUESTION)).acknowledged
    held = ingest(pipeline, make_mail(sender="b@citur.example.lv", body=QUESTION))
    assert not held.acknowledged
    emergencies = [
        ingest(pipeline, make_mail(sender=f"c{n}@citur.example.lv", body=f"{EMERGENCY} {n}"))
        for n in range(2)
    ]
    assert {e.category for e in emergencies} == {"emergency"}
    assert not any(e.acknowledged for e in emergencies)
    alerts = staff_notices(sessions, "reply_limit_notice")
    assert len(alerts) == 3  # the hourly one, and one for each urgent request, at once
    urgent = [a for a in alerts if a.ticket_id in {e.ticket_id for e in emergencies}]
    assert len(urgent) == 2 and all(
        "URGENT" in a.subject or "STEIDZAMI" in a.subject for a in urgent
    )


def test_an_emergency_skips_the_per_sender_limit(env):
    make, _sessions, _clock, _url = env
    pipeline = make(acknowledgements_per_sender_per_hour=1)
    assert ingest(pipeline, make_mail(subject="J", body=QUESTION)).acknowledged
    assert not ingest(pipeline, make_mail(subject="J2", body=QUESTION + " 2")).acknowledged
    emergency = ingest(pipeline, make_mail(subject="Avārija", body=EMERGENCY))
    assert emergency.category == "emergency" and emergency.acknowledged
