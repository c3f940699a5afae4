"""The dispatcher: .eml files, retries with backoff, dead letters, at most one resend."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import event, select, update

from triage_desk.responders.dispatcher import LEASE, Dispatcher, backoff
from triage_desk.responders.transports import FileTransport, TransportError
from triage_desk.storage.db import make_engine, make_session_factory, take_write_lock
from triage_desk.storage.models import OutboxItem, OutboxStatus


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class FlakyTransport:
    def __init__(self, failures: int, permanent: bool = False) -> None:
        self.failures = failures
        self.permanent = permanent
        self.sent: list[int] = []

    def send(self, item: OutboxItem) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise TransportError("relay unavailable", permanent=self.permanent)
        self.sent.append(item.id)


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _queue(sessions, count: int = 1, created: dt.datetime | None = None) -> None:
    with sessions.begin() as session:
        for n in range(count):
            session.add(
                OutboxItem(
                    dedupe_key=f"ack:{n}",
                    kind="acknowledgement",
                    channel="email",
                    sender="atbalsts@example.lv",
                    recipient=f"person{n}@example.lv",
                    subject=f"[MUN-2026-00000{n}] Re: Palīdzība",
                    body_text="Labdien! Jūsu pieteikums ir saņemts — ā ē ī ū.",
                    headers={
                        "Message-ID": f"<ack{n}@example.lv>",
                        "Auto-Submitted": "auto-replied",
                        "From-Name": "Atbalsts",
                    },
                    next_attempt_at=created or dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC),
                )
            )


def test_file_transport_writes_a_real_mail(sessions, tmp_path):
    _queue(sessions)
    report = Dispatcher(sessions, {"email": FileTransport(tmp_path)}, now=Clock()).run_once()
    assert report.sent == 1
    [path] = tmp_path.glob("*.eml")
    mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert mail["To"] == "person0@example.lv"
    assert mail["From"] == "Atbalsts <atbalsts@example.lv>"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["Message-ID"] == "<ack0@example.lv>"
    assert "From-Name" not in mail
    assert "ā ē ī ū" in mail.get_content()
    with sessions() as session:
        item = session.scalar(select(OutboxItem))
        assert item.status == OutboxStatus.SENT and item.attempts == 1 and item.claimed_at is None


def test_failures_are_retried_with_backoff_then_sent(sessions):
    _queue(sessions)
    clock = Clock()
    transport = FlakyTransport(failures=2)
    dispatcher = Dispatcher(sessions, {"email": transport}, max_attempts=5, now=clock)
    assert dispatcher.run_once().retried == 1
    assert dispatcher.run_once().retried == 0  # not due yet: backing off
    clock.now += backoff(1)
    assert dispatcher.run_once().retried == 1
    clock.now += backoff(2)
    assert dispatcher.run_once().sent == 1
    assert len(transport.sent) == 1


def test_after_max_attempts_an_item_is_dead_and_kept(sessions):
    _queue(sessions)
    clock = Clock()
    dispatcher = Dispatcher(
        sessions, {"email": FlakyTransport(failures=99)}, max_attempts=3, now=clock
    )
    for attempt in range(1, 4):
        dispatcher.run_once()
        clock.now += backoff(attempt)
    with sessions() as session:
        item = session.scalar(select(OutboxItem))
        assert item.status == OutboxStatus.DEAD and item.attempts == 3
        assert item.last_error == "relay unavailable"


def test_a_permanent_refusal_is_dead_at_once(sessions):
    _queue(sessions)
    Dispatcher(sessions, {"email": FlakyTransport(1, permanent=True)}, now=Clock()).run_once()
    with sessions() as session:
        assert session.scalar(select(OutboxItem)).status == OutboxStatus.DEAD


def test_a_crash_after_sending_resends_that_item_once_its_lease_ends(sessions, tmp_path):
    _queue(sessions, count=5)

    class CrashAfterThird(FileTransport):
        calls = 0

        def send(self, item: OutboxItem) -> None:
            super().send(item)
            CrashAfterThird.calls += 1
            if CrashAfterThird.calls == 3:
                raise KeyboardInterrupt  # the process dies after sending, before marking

    clock = Clock()
    with pytest.raises(KeyboardInterrupt):
        Dispatcher(sessions, {"email": CrashAfterThird(tmp_path)}, now=clock).run_once()
    counting = FlakyTransport(failures=0)
    restarted = Dispatcher(sessions, {"email": counting}, now=clock)
    restarted.run_once()
    assert counting.sent == [4, 5]  # the one in flight keeps its lease: not sent at once
    clock.now += LEASE
    restarted.run_once()
    assert counting.sent == [4, 5, 3]  # then once more
    with sessions() as session:
        items = session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
        assert {item.status for item in items} == {OutboxStatus.SENT}
        assert [item.unconfirmed_sends for item in items] == [0, 0, 1, 0, 0]
        assert all(item.claimed_at is None for item in items)


def test_nothing_is_locked_while_the_transport_sends(sessions, database_url):
    """During a send the dispatcher holds no connection (so no transaction, no row lock):
    another process locks and updates the very row being sent, and its neighbour, without
    waiting (PostgreSQL: FOR UPDATE NOWAIT; SQLite: BEGIN IMMEDIATE with no busy wait)."""
    _queue(sessions, count=2)
    dispatcher_engine = sessions.kw["bind"]
    other_engine = make_engine(database_url)
    if other_engine.dialect.name == "sqlite":
        event.listen(
            other_engine,
            "connect",
            lambda connection, _record: connection.execute("PRAGMA busy_timeout=0"),
        )
    others = make_session_factory(other_engine)
    seen: list[tuple[int, int, int]] = []

    class Meddling(FlakyTransport):
        def send(self, item: OutboxItem) -> None:
            checked_out = dispatcher_engine.pool.checkedout()
            table = OutboxItem.__table__
            with others.begin() as session:
                take_write_lock(session)  # SQLite: fails at once if anyone is writing
                locked = session.scalars(
                    select(table.c.id)
                    .order_by(table.c.id)
                    .with_for_update(nowait=True)  # PostgreSQL: fails at once if held
                ).all()
                changed = session.execute(
                    update(table)
                    .where(table.c.id.in_(locked))
                    .values(recipient_key=table.c.recipient)
                ).rowcount
            seen.append((checked_out, len(locked), changed))
            super().send(item)

    try:
        report = Dispatcher(sessions, {"email": Meddling(failures=0)}, now=Clock()).run_once()
    finally:
        other_engine.dispose()
    assert seen == [(0, 2, 2), (0, 2, 2)]  # both sends: no connection held, both rows free
    assert report.sent == 2
    with sessions() as session:
        assert set(session.scalars(select(OutboxItem.status))) == {OutboxStatus.SENT}


def test_backoff_grows_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(30) == dt.timedelta(hours=1)


def test_smtp_transport_delivers_to_a_real_relay(sessions):
    """The `outbound.transport = "smtp"` switch, against a real aiosmtpd relay on loopback."""
    from aiosmtpd.controller import Controller

    from triage_desk.config import SmtpRelayConfig
    from triage_desk.intake.email.smtp_listener import _free_port
    from triage_desk.responders.transports import SmtpTransport

    received: list[tuple[str, list[str], bytes]] = []

    class Relay:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.mail_from, envelope.rcpt_tos, envelope.original_content))
            return "250 OK"

        async def handle_RCPT(self, server, session, envelope, address, options):
            if address.startswith("gone"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    port = _free_port("127.0.0.1")
    relay = Controller(Relay(), hostname="127.0.0.1", port=port)
    relay.start()
    try:
        _queue(sessions, count=2)
        with sessions.begin() as session:
            session.scalars(select(OutboxItem)).all()[1].recipient = "gone@example.lv"
        transport = SmtpTransport(SmtpRelayConfig(host="127.0.0.1", port=port, starttls=False))
        report = Dispatcher(sessions, {"email": transport}, now=Clock()).run_once()
    finally:
        relay.stop()
    assert (report.sent, report.dead) == (1, 1)  # 550 is permanent: dead at once, no retry
    [(mail_from, rcpt, raw)] = received
    assert mail_from == "atbalsts@example.lv" and rcpt == ["person0@example.lv"]
    mail = BytesParser(policy=policy.default).parsebytes(raw)
    assert mail["Auto-Submitted"] == "auto-replied" and "ā ē ī ū" in mail.get_content()


def test_a_dispatcher_killed_mid_batch_resends_at_most_the_one_in_flight(sqlite_url, tmp_path):
    """A real process, really killed (SIGKILL) while sending, then restarted."""
    import signal
    import subprocess
    import sys
    import time

    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    _queue(sessions, count=40, created=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    log = tmp_path / "sent.log"
    worker = [sys.executable, "-m", "tests.dispatch_worker", sqlite_url, str(log)]
    first = subprocess.Popen([*worker, "0.05", "1"])  # the one in flight: a 1 s lease
    deadline = time.monotonic() + 60
    while (not log.exists() or len(log.read_text().split()) < 12) and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    sent_before = len(log.read_text().split())
    assert 12 <= sent_before < 40, "the kill must land in the middle of the work"
    subprocess.run([*worker, "0", "1"], check=True, timeout=120)
    sends = [int(line) for line in log.read_text().split()]
    with sessions() as session:
        ids = session.scalars(select(OutboxItem.id)).all()
        assert set(session.scalars(select(OutboxItem.status)).all()) == {OutboxStatus.SENT}
    assert set(sends) == set(ids)  # nothing lost
    resent = [i for i in set(sends) if sends.count(i) > 1]
    assert len(resent) <= 1 and all(sends.count(i) == 2 for i in resent)
    engine.dispose()
