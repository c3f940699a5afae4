"""The real aiosmtpd listener over a real socket: 250 only after the raw mail is committed,
never a relay; the queue runner then stores it as a ticket."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import QueuedSmtp, make_mail
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.email.smtp_listener import DeskSMTP, SmtpIntakeHandler, SmtpListener
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import Message, OutboxItem, QueuedInbound, Ticket


@dataclass
class Served:
    port: int
    sessions: sessionmaker[Session]
    smtp_queue: QueuedSmtp


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s")
        time.sleep(0.05)


@pytest.fixture
def served(sqlite_url, example_config, classifier):
    """The listener with its queue; the queue runner is started by the tests that want it."""
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    pipeline = IntakePipeline(sessions, desks, classifier, TemplateRenderer())
    intake = EmailIntake(sessions, pipeline, example_config.email)
    smtp_queue = QueuedSmtp(sessions, intake, idle_seconds=0.2)
    listener = SmtpListener(SmtpIntakeHandler(desks, smtp_queue.submit), "127.0.0.1", 0, 200_000)
    listener.start()
    yield Served(listener.port, sessions, smtp_queue)
    listener.stop()
    smtp_queue.close()
    engine.dispose()


def test_the_raw_mail_is_committed_before_250_and_then_becomes_a_ticket(served):
    raw = make_mail(message_id="<smtp-1@novads.example.lv>")
    with smtplib.SMTP("127.0.0.1", served.port, timeout=10) as client:
        client.ehlo()
        client.mail("ilze@novads.example.lv")
        client.rcpt("atbalsts@example.lv")
        code, text = client.data(raw)
    assert code == 250
    # The server said 250, so the mail must be in the queue already, exactly as sent.
    with served.sessions() as session:
        [queued] = session.scalars(select(QueuedInbound)).all()
        assert queued.payload == raw and queued.channel == "email"
        assert queued.meta["envelope_sender"] == "ilze@novads.example.lv"
        assert queued.meta["recipients"] == ["atbalsts@example.lv"]
        assert text.decode().endswith(f"queued as {queued.id}")
    assert count(served.sessions, Ticket) == 0  # nothing drains it yet
    served.smtp_queue.start()
    wait_until(lambda: count(served.sessions, QueuedInbound) == 0)
    with served.sessions() as session:
        message = session.scalar(select(Message).where(Message.direction == "in"))
        assert message.external_id == "smtp-1@novads.example.lv"
        # Numbered by the year it was received in Riga (the wall clock's: any year).
        year = message.received_at.astimezone(ZoneInfo("Europe/Riga")).year
        assert message.ticket.number == f"MUN-{year}-000001"
    assert count(served.sessions, OutboxItem) == 1


def test_other_addresses_are_refused_we_never_relay(served):
    with smtplib.SMTP("127.0.0.1", served.port, timeout=10) as client:
        client.ehlo()
        client.mail("spammer@example.com")
        code, text = client.rcpt("victim@example.com")
    assert code == 550 and b"relaying denied" in text
    assert count(served.sessions, QueuedInbound) == 0


def test_a_mail_over_the_size_limit_gets_552(served):
    port = served.port
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
    assert count(served.sessions, QueuedInbound) == 0


def test_a_storage_failure_answers_451_so_the_sender_retries(tmp_path, example_config):
    desks = Desks(example_config)

    # The database is away: no queue table to commit to.
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'triage.sqlite'}")
    smtp_queue = QueuedSmtp(make_session_factory(engine), None)  # type: ignore[arg-type]
    listener = SmtpListener(SmtpIntakeHandler(desks, smtp_queue.submit), "127.0.0.1", 0, 200_000)
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
        smtp_queue.close()
        engine.dispose()


def test_starttls_is_offered_and_works(tmp_path, sqlite_url, example_config, classifier):
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    intake = EmailIntake(
        sessions,
        IntakePipeline(sessions, desks, classifier, TemplateRenderer()),
        example_config.email,
    )
    smtp_queue = QueuedSmtp(sessions, intake, idle_seconds=0.2)
    smtp_queue.start()
    listener = SmtpListener(
        SmtpIntakeHandler(desks, smtp_queue.submit), "127.0.0.1", 0, 10**6, cert, key
    )
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
            assert (
                client.sendmail("a@novads.example.lv", ["atbalsts@example.lv"], make_mail()) == {}
            )
        wait_until(lambda: count(sessions, Ticket) == 1)
    finally:
        listener.stop()
        smtp_queue.close()
        engine.dispose()


class _NoHandler:
    pass


_ADDRESS_PIECES = st.sampled_from(
    [
        "a",
        "B",
        "z9",
        ".",
        "..",
        "-",
        "+",
        "_",
        "@",
        "@@",
        "<",
        ">",
        " ",
        "\t",
        "(",
        ")",
        '"',
        "[",
        "]",
        ":",
        ",",
        "1.2.3.4",
        "x-y",
        "é",
        "SIZE=100",
        "BODY=8BITMIME",
        "example.lv",
    ]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_ADDRESS_PIECES, max_size=12).map("".join))
def test_the_quick_envelope_address_parse_agrees_with_aiosmtpds(arg):
    """DeskSMTP reads plain <local@domain> itself; on any input the answer is aiosmtpd's."""

    def outcome(session: SMTP) -> object:
        try:
            return session._getaddr(arg)
        except Exception as exc:  # aiosmtpd's parser raises on some junk ('"'): so must we
            return type(exc)

    assert outcome(DeskSMTP(_NoHandler())) == outcome(SMTP(_NoHandler()))


@pytest.mark.parametrize(
    "arg",
    ["<anna.berzina+desk@pasts.example.lv> SIZE=2048 BODY=8BITMIME", "  <a@b.lv>\tSIZE=1"],
)
def test_plain_envelope_addresses_take_the_quick_path(arg, monkeypatch):
    def refuse(self, arg):
        raise AssertionError("aiosmtpd's parser was asked")

    monkeypatch.setattr(SMTP, "_getaddr", refuse)
    address, rest = DeskSMTP(_NoHandler())._getaddr(arg)
    assert address is not None and "@" in address and rest.startswith(("SIZE", "BODY"))
