"""The real aiosmtpd listener over a real socket: 250 only after commit, never a relay."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import func, select

from tests.helpers import make_mail
from triage_desk.desks import Desks
from triage_desk.intake.batching import IngestBatcher
from triage_desk.intake.email_intake import EmailIntake
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import Message, OutboxItem, Ticket


@pytest.fixture
def served(sqlite_url, example_config, classifier):
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    pipeline = IntakePipeline(sessions, desks, classifier, TemplateRenderer())
    intake = EmailIntake(sessions, pipeline, example_config.email)
    calls: list[bytes] = []

    def ingest_many(mails):
        calls.extend(mail.raw for mail in mails)
        return intake.ingest_many(mails)

    batcher = IngestBatcher(ingest_many)
    listener = SmtpListener(SmtpIntakeHandler(desks, batcher.submit), "127.0.0.1", 0, 200_000)
    listener.start()
    yield listener.port, sessions, calls
    listener.stop()
    batcher.close()
    engine.dispose()


def test_a_mail_is_committed_before_250(served):
    port, sessions, _calls = served
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        refused = client.sendmail("ilze@novads.example.lv", ["atbalsts@example.lv"],
                                  make_mail(message_id="<smtp-1@novads.example.lv>"))
        assert refused == {}
        # sendmail returned: the server said 250, so the ticket must already be there.
        with sessions() as session:
            message = session.scalar(select(Message).where(Message.direction == "in"))
            assert message.external_id == "smtp-1@novads.example.lv"
            assert session.scalar(select(func.count()).select_from(OutboxItem)) == 1


def test_the_reply_code_names_the_ticket(served):
    port, _sessions, _calls = served
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail("ilze@novads.example.lv")
        client.rcpt("atbalsts@example.lv")
        code, text = client.data(make_mail())
    assert code == 250 and b"MUN-2026-" in text


def test_other_addresses_are_refused_we_never_relay(served):
    port, sessions, _calls = served
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail("spammer@example.com")
        code, text = client.rcpt("victim@example.com")
    assert code == 550 and b"relaying denied" in text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_a_mail_over_the_size_limit_gets_552(served):
    port, _sessions, calls = served
    big = make_mail(body=("x" * 70 + "\n") * 4000)  # ~290 kB in normal-length lines
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        # A client that declares SIZE is refused at MAIL FROM, before it sends anything...
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            client.sendmail("ilze@novads.example.lv", ["atbalsts@example.lv"], big)
        assert caught.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        # ...one that does not is refused after DATA.
        client.ehlo()
        client.mail("ilze@novads.example.lv")
        client.rcpt("atbalsts@example.lv")
        code, _text = client.data(big)
        assert code == 552
    assert calls == []


def test_a_storage_failure_answers_451_so_the_sender_retries(sqlite_url, example_config):
    desks = Desks(example_config)

    def failing(_mails):
        raise RuntimeError("database is down")

    batcher = IngestBatcher(failing)
    listener = SmtpListener(SmtpIntakeHandler(desks, batcher.submit), "127.0.0.1", 0, 200_000)
    listener.start()
    try:
        with (
            smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client,
            pytest.raises(smtplib.SMTPDataError) as caught,
        ):
            client.sendmail("ilze@novads.example.lv", ["atbalsts@example.lv"], make_mail())
        assert caught.value.smtp_code == 451
    finally:
        listener.stop()
        batcher.close()


def test_starttls_is_offered_and_works(tmp_path, sqlite_url, example_config, classifier):
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    intake = EmailIntake(sessions, IntakePipeline(sessions, desks, classifier,
                                                  TemplateRenderer()), example_config.email)
    batcher = IngestBatcher(intake.ingest_many)
    listener = SmtpListener(SmtpIntakeHandler(desks, batcher.submit), "127.0.0.1", 0, 10**6,
                            cert, key)
    listener.start()
    try:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo()
            assert client.sock.version() is not None  # the session is encrypted now
            assert client.sendmail("a@novads.example.lv", ["atbalsts@example.lv"],
                                   make_mail()) == {}
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    finally:
        listener.stop()
        batcher.close()
        engine.dispose()
