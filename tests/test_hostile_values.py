"""Values PostgreSQL refuses, and charsets that are no charsets: each such mail becomes a
ticket at once, on both databases, with storable text (the raw bytes keep everything), and
an impossible envelope is refused for good at the SMTP listener."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import smtplib

import pytest
from sqlalchemy import select, update

from tests.helpers import make_mail, queue_mails, queue_runner
from triage_desk.clock import FixedClock
from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.charsets import codec_for, decode_bytes
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.quarantine import held
from triage_desk.intake.queue import InboundQueue
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    Direction,
    Message,
    QueuedInbound,
    Requester,
    StoredAttachment,
    Ticket,
)

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga
TEXT = "Labdien! Atskaišu modulī poga 'Izveidot' nestrādā, cita ceļa nav."


@pytest.fixture
def env(database_url, example_config, classifier):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    pipeline = IntakePipeline(
        sessions,
        Desks(example_config),
        classifier,
        TemplateRenderer(),
        rules=EmailConfig(acknowledgements_per_sender_per_hour=1000),
        now=FixedClock(NOW + dt.timedelta(minutes=1)),
    )
    intake = EmailIntake(sessions, pipeline, EmailConfig())
    yield sessions, intake
    intake.close()
    engine.dispose()


def mail(
    *headers: bytes,
    body: bytes = TEXT.encode(),
    content: bytes = b"text/plain; charset=utf-8",
    encoding: bytes = b"8bit",
) -> bytes:
    """A mail written byte by byte (the stdlib would not let us write these values)."""
    fields = {
        b"From": b"Ilze Kalnina <ilze@novads.example.lv>",
        b"To": b"atbalsts@example.lv",
        b"Subject": b"Nevaru izveidot atskaiti",
        b"Date": b"Mon, 30 Nov 2026 08:00:00 +0000",
        b"Message-ID": b"<hostile@novads.example.lv>",
        b"MIME-Version": b"1.0",
        b"Content-Type": content,
        b"Content-Transfer-Encoding": encoding,
    }
    for header in headers:
        name, _colon, value = header.partition(b": ")
        fields[name] = value
    head = b"".join(name + b": " + value + b"\r\n" for name, value in fields.items())
    return head + b"\r\n" + body + b"\r\n"


def with_attachment(content_type: bytes, content_id: bytes) -> bytes:
    part = base64.encodebytes(b"%PDF-1.4 not really")
    body = (
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + TEXT.encode() + b"\r\n"
        b"--b1\r\nContent-Type: " + content_type + b"\r\nContent-ID: " + content_id + b"\r\n"
        b'Content-Disposition: attachment; filename="akts.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + part + b"--b1--"
    )
    return mail(body=body, content=b'multipart/mixed; boundary="b1"', encoding=b"7bit")


def utf16(text: str, codec: str) -> bytes:
    return base64.encodebytes(text.encode(codec))


LONG = "x" * 400
CASES = {
    "NUL in the subject and the body": mail(
        b"Subject: Atskaite\x00 nestr\xc4\x81d\xc4\x81", body=b"Labdien!\x00 " + TEXT.encode()
    ),
    "UTF-16 declared": mail(
        body=utf16(TEXT, "utf-16"), content=b"text/plain; charset=utf-16", encoding=b"base64"
    ),
    "UTF-16 with a byte-order mark, no charset": mail(
        body=utf16(TEXT, "utf-16"), content=b"text/plain", encoding=b"base64"
    ),
    "UTF-16LE without a mark, labelled Latin-1": mail(
        body=utf16(TEXT, "utf-16-le"),
        content=b"text/plain; charset=iso-8859-1",
        encoding=b"base64",
    ),
    "UTF-32 declared": mail(
        body=utf16(TEXT, "utf-32"), content=b"text/plain; charset=utf-32", encoding=b"base64"
    ),
    "charset zlib": mail(content=b"text/plain; charset=zlib"),
    "charset rot13": mail(content=b"text/plain; charset=rot13"),
    "charset undefined": mail(content=b"text/plain; charset=undefined"),
    "charset unicode-escape": mail(content=b"text/plain; charset=unicode-escape"),
    "sender over 320 characters": mail(b"From: <" + LONG.encode() + b"@novads.example.lv>"),
    "display name over 300 characters": mail(
        b"From: " + LONG.encode() + b" <ilze@novads.example.lv>"
    ),
    "Message-ID over 512 characters": mail(b"Message-ID: <" + b"m" * 600 + b"@novads.lv>"),
    "Content-ID over 500": with_attachment(b"application/pdf", b"<" + b"c" * 600 + b"@x.lv>"),
    "content type over 200": with_attachment(b"application/x-" + b"t" * 300, b"<c1@x.lv>"),
}
# What each readable case must read as (the others: whatever, as long as it is stored).
READS_AS = {
    "UTF-16 declared": TEXT,
    "UTF-16 with a byte-order mark, no charset": TEXT,
    "UTF-16LE without a mark, labelled Latin-1": TEXT,
    "UTF-32 declared": TEXT,
    "charset zlib": TEXT,
    "charset rot13": TEXT,
    "charset undefined": TEXT,
    "charset unicode-escape": TEXT,
}


def length(column) -> int:  # type: ignore[no-untyped-def]
    return column.property.columns[0].type.impl.length


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_value_is_stored_at_once_clean_and_clipped(env, case):
    sessions, intake = env
    raw = CASES[case]
    outcome = intake.ingest(raw, "municipal", "smtp", NOW, "ilze@novads.example.lv")
    assert outcome.result is not None, f"quarantined: {outcome.reason} {outcome.detail}"
    with sessions() as session:
        message = session.scalar(select(Message).where(Message.direction == Direction.INBOUND))
        ticket = session.get(Ticket, message.ticket_id)
        requester = session.get(Requester, ticket.requester_id)
        attachments = session.scalars(select(StoredAttachment)).all()
        assert message.raw == raw  # the raw bytes keep everything
        texts = [message.subject, message.text, message.new_text, ticket.subject]
        texts += [message.sender, message.sender_name or "", message.external_id]
        texts += [str(value) for value in message.headers.values()]
        assert not any("\x00" in text for text in texts)
        assert len(message.sender) <= length(Message.sender)
        assert len(message.sender_name or "") <= length(Message.sender_name)
        assert len(requester.display_name or "") <= length(Requester.display_name)
        assert len(message.external_id) <= length(Message.external_id)
        for attachment in attachments:
            assert len(attachment.content_type) <= length(StoredAttachment.content_type)
            assert len(attachment.content_id or "") <= length(StoredAttachment.content_id)
        if case in READS_AS:
            assert message.text == READS_AS[case]
        if case == "NUL in the subject and the body":
            assert message.subject == "Atskaite nestrādā"
            assert message.text == "Labdien! " + TEXT
    # A replay of the same mail is recognised, however its values were cut.
    again = intake.ingest(raw, "municipal", "smtp", NOW, "ilze@novads.example.lv")
    assert again.result is not None and again.result.duplicate


@pytest.mark.parametrize("label", ["zlib", "rot13", "undefined", "base64", "hex", "x-unknown"])
def test_a_codec_that_is_no_text_encoding_is_an_unknown_charset(label):
    assert codec_for(label) is None
    assert decode_bytes(TEXT.encode(), label) == TEXT
    assert decode_bytes(TEXT.encode("cp1257"), label) == TEXT  # guessed, as for no label


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_utf16_and_utf32_are_read_when_declared_or_obvious(codec):
    data = TEXT.encode(codec)
    assert decode_bytes(data, codec) == TEXT
    assert decode_bytes(data, None) == TEXT  # a byte-order mark, or the NULs' pattern
    russian = "Здравствуйте, не работает отчёт."
    assert decode_bytes(russian.encode(codec), None) == russian


def test_a_storage_failure_logs_no_mail_data_and_its_traceback_once(env, database_url, caplog):
    """Seen before: five attempts, each logging the mail's values in a traceback."""
    sessions, intake = env
    secret_subject, secret_body = "Parole-Zilonis-42", "konts LV80BANK0000435195001"
    raw = make_mail(subject=secret_subject, body=f"Labdien! {secret_body}")
    refuse_messages(sessions, database_url)
    queue = InboundQueue(sessions)
    [queue_id] = queue_mails(
        queue, [RawMail(raw, "municipal", "smtp", NOW, "ilze@novads.example.lv", ())]
    )
    drainer = queue_runner(intake, queue, max_attempts=5)
    caplog.set_level(logging.INFO)
    for _attempt in range(5):
        drainer.drain()
        with sessions.begin() as session:
            session.execute(update(QueuedInbound).values(next_attempt_at=NOW))
    with sessions() as session:
        [item] = held(session)
        assert item.reason == "storage_failed" and item.raw == raw
    logged = [
        record.getMessage() + (logging.Formatter().formatException(record.exc_info))
        if record.exc_info
        else record.getMessage()
        for record in caplog.records
    ]
    for secret in (secret_subject, secret_body, "ilze@novads.example.lv", "Ilze"):
        assert not any(secret in line for line in logged), secret
    assert sum(1 for record in caplog.records if record.exc_info) == 1
    assert all(
        str(queue_id) in record.getMessage()
        for record in caplog.records
        if record.name in ("triage_desk.runners.queue", "triage_desk.intake.processing")
    )


def refuse_messages(sessions, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """A trigger that makes the database refuse every new message row (and nothing else)."""
    with sessions.begin() as session:
        if database_url.startswith("sqlite"):
            session.connection().exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            session.connection().exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
            )
            session.connection().exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def test_an_impossible_envelope_sender_is_refused_for_good(sqlite_url, example_config):
    engine = make_engine(sqlite_url)
    queue = InboundQueue(make_session_factory(engine))

    async def submit(raw_mail: RawMail) -> int:
        return queue_mails(queue, [raw_mail])[0]

    listener = SmtpListener(
        SmtpIntakeHandler(Desks(example_config), submit), "127.0.0.1", 0, 200_000
    )
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            client.ehlo()
            code, text = client.mail("a" * 400 + "@novads.example.lv")
            assert code == 553 and b"320" in text  # permanent: the sender does not retry
            code, _text = client.mail("ilze@novads.example.lv")  # the session goes on
            assert code == 250
            assert client.rcpt("atbalsts@example.lv")[0] == 250
            assert client.data(make_mail())[0] == 250
    finally:
        listener.stop()
    assert queue.waiting() == 1
    engine.dispose()
