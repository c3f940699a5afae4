"""When the database refuses a write (read-only, full, locked): the dispatcher sends nothing
again and again, a refused item steps aside, the service reconnects once the database is
writable again, and a committed queue row survives a power cut."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import smtplib
import subprocess
import sys
from collections import Counter
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.orm import Session

from tests.conftest import _postgres_schema_url, postgres_url
from tests.helpers import make_mail
from tests.refusal import WriteRefusal, write_refusal
from triage_desk.config import SmtpRelayConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.raw import RawMail
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener, _free_port
from triage_desk.intake.email.smtp_queue import SmtpQueue
from triage_desk.intake.queue import InboundQueue
from triage_desk.responders.dispatcher import LEASE, Dispatcher
from triage_desk.responders.transports import SmtpTransport
from triage_desk.storage.db import make_engine, make_session_factory, normalise_url
from triage_desk.storage.models import AuditEvent, OutboxItem, OutboxStatus, QueuedInbound

ROOT = Path(__file__).resolve().parent.parent
START = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


class Sink:
    """A real SMTP server on loopback that counts the copies of each Message-ID it gets."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()
        self.port = _free_port("127.0.0.1")
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.copies[message_from_bytes(envelope.original_content)["Message-ID"]] += 1
        return "250 OK"

    def transport(self) -> SmtpTransport:
        return SmtpTransport(SmtpRelayConfig(host="127.0.0.1", port=self.port, starttls=False))


@pytest.fixture
def refusal(database_url):
    yield from write_refusal(database_url)


@pytest.fixture
def sink():
    sink = Sink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


def queue(url: str, count: int) -> None:
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        for n in range(count):
            session.add(
                OutboxItem(
                    dedupe_key=f"ack:{n}",
                    kind="acknowledgement",
                    channel="email",
                    sender="atbalsts@example.lv",
                    recipient=f"person{n}@example.lv",
                    subject=f"[MUN-2026-00000{n}] Pieteikums saņemts",
                    body_text="Labdien! Jūsu pieteikums ir saņemts.",
                    headers={"Message-ID": f"<ack{n}@example.lv>", "From-Name": "Atbalsts"},
                    next_attempt_at=START - dt.timedelta(minutes=1),
                )
            )
    engine.dispose()


def outbox(url: str) -> list[OutboxItem]:
    engine = make_engine(url)
    with Session(engine) as session:
        items = list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))
    engine.dispose()
    return items


def test_while_the_database_refuses_writes_nothing_is_sent_and_then_everything_once(
    database_url, refusal, sink
):
    """Seen before: 21 copies of one acknowledgement in 20 s, and nothing behind it went."""
    queue(database_url, 3)
    engine = refusal.engine()
    clock = Clock()
    dispatcher = Dispatcher(make_session_factory(engine), {"email": sink.transport()}, now=clock)
    refusal.refuse()
    for _second in range(20):
        report = dispatcher.run_once()
        assert report.refused and report.sent == 0
        clock.now += dt.timedelta(seconds=1)
    assert sum(sink.copies.values()) == 0  # each attempt is recorded first: none could be
    refusal.allow()
    assert dispatcher.run_once().sent == 3
    assert sink.copies == {f"<ack{n}@example.lv>": 1 for n in range(3)}
    engine.dispose()


def test_a_send_the_database_refuses_to_record_is_repeated_once_after_its_lease(
    database_url, refusal, sink
):
    queue(database_url, 3)
    engine = refusal.engine()
    clock = Clock()
    relay = sink.transport()

    class RefusedAfterFirstSend:
        """The database turns read-only while the first mail is on its way."""

        def send(self, item: OutboxItem) -> None:
            relay.send(item)
            if sum(sink.copies.values()) == 1:
                refusal.refuse()

    dispatcher = Dispatcher(
        make_session_factory(engine), {"email": RefusedAfterFirstSend()}, now=clock
    )
    report = dispatcher.run_once()
    assert (report.sent, report.unrecorded, report.refused) == (0, 1, True)
    for _second in range(20):  # the database still refuses: nothing goes, nothing repeats
        dispatcher.run_once()
        clock.now += dt.timedelta(seconds=1)
    assert sink.copies == {"<ack0@example.lv>": 1}
    refusal.allow()
    assert dispatcher.run_once().sent == 2  # the other two; the first keeps its lease
    assert sink.copies["<ack0@example.lv>"] == 1
    clock.now = START + LEASE
    assert dispatcher.run_once().sent == 1
    assert sink.copies == {f"<ack{n}@example.lv>": 1 + (n == 0) for n in range(3)}
    for _poll in range(3):
        clock.now += LEASE
        assert dispatcher.run_once().sent == 0  # recorded as sent now: never again
    first = outbox(database_url)[0]
    assert first.status == OutboxStatus.SENT and first.unconfirmed_sends == 1
    assert first.attempts == 2 and first.claimed_at is None
    engine.dispose()


def test_an_item_whose_sends_are_never_recorded_is_given_up_after_one_repeat(
    database_url, refusal, sink
):
    queue(database_url, 1)
    engine = refusal.engine()
    clock = Clock()
    relay = sink.transport()

    class NeverRecorded:
        def send(self, item: OutboxItem) -> None:
            relay.send(item)
            refusal.refuse()

    dispatcher = Dispatcher(make_session_factory(engine), {"email": NeverRecorded()}, now=clock)
    for _round in range(4):
        dispatcher.run_once()
        refusal.allow()
        clock.now += LEASE
    assert sink.copies == {"<ack0@example.lv>": 2}  # never a third copy
    [item] = outbox(database_url)
    assert item.status == OutboxStatus.DEAD and item.unconfirmed_sends == 2
    assert "never recorded" in (item.last_error or "")
    with Session(make_engine(database_url)) as session:
        assert session.scalar(select(AuditEvent.action)) == "outbox_dead"
    engine.dispose()


def test_an_item_that_fails_steps_aside_and_the_rest_go_out(database_url, sink):
    queue(database_url, 3)
    engine = make_engine(database_url)
    relay = sink.transport()

    class BrokenForTheFirst:
        def send(self, item: OutboxItem) -> None:
            if item.id == 1:
                raise ValueError("a header the mail library cannot write")
            relay.send(item)

    clock = Clock()
    dispatcher = Dispatcher(make_session_factory(engine), {"email": BrokenForTheFirst()}, now=clock)
    report = dispatcher.run_once()
    assert (report.sent, report.retried) == (2, 1)
    assert sink.copies == {"<ack1@example.lv>": 1, "<ack2@example.lv>": 1}
    first = outbox(database_url)[0]
    assert first.status == OutboxStatus.PENDING and first.next_attempt_at > clock.now
    assert "ValueError" in (first.last_error or "")
    engine.dispose()


# --------------------------------------------------------------------------- reconnecting


def smtp_code(port: int, n: int) -> int:
    raw = make_mail(message_id=f"<reconnect-{n}@novads.example.lv>")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail("ilze@novads.example.lv")
        client.rcpt("atbalsts@example.lv")
        code, _text = client.data(raw)
    return code


def _open_files(pid: int, database: Path) -> list[str]:
    """The database's files (``name``, ``name-wal``, ``name-shm``) process ``pid`` holds open."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(database)):
            found.append(target)
    return found


def queued(url: str) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        found = len(session.scalars(select(QueuedInbound.id)).all())
    engine.dispose()
    return found


@pytest.fixture
def postgresql_url():
    base = postgres_url()
    if base is None:
        pytest.skip("TRIAGE_DATABASE_URL is not set to a PostgreSQL URL (it is in .ci/run)")
    yield from _postgres_schema_url(base)


def test_a_service_started_while_postgresql_was_read_only_recovers(postgresql_url, example_config):
    """The role's sessions start read-only (default_transaction_read_only), as on a database
    or a standby set so; a pooled session keeps that setting after it is lifted."""
    refusal = WriteRefusal(postgresql_url)
    refusal._sql(f"ALTER ROLE {refusal.role} SET default_transaction_read_only = on")
    engine = refusal.engine()
    batcher = SmtpQueue(InboundQueue(make_session_factory(engine)))
    listener = SmtpListener(
        SmtpIntakeHandler(Desks(example_config), batcher.submit), "127.0.0.1", 0, 200_000
    )
    listener.start()
    try:
        assert [smtp_code(listener.port, n) for n in range(3)] == [451, 451, 451]
        refusal._sql(f"ALTER ROLE {refusal.role} RESET default_transaction_read_only")
        assert [smtp_code(listener.port, n) for n in range(3, 6)] == [250, 250, 250]
    finally:
        listener.stop()
        batcher.close()
        engine.dispose()
        refusal.close()
    assert queued(postgresql_url) == 3


def test_a_service_started_while_the_sqlite_file_was_read_only_recovers(sqlite_url):
    """A real process opens the file while it may not write it (as root, the process runs
    without CAP_DAC_OVERRIDE, so the file's mode binds it as it binds any user)."""
    database = Path(make_engine(sqlite_url).url.database or "")
    database.chmod(0o444)
    command = [sys.executable, "-m", "tests.smtp_queue_worker", sqlite_url]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's write override"
        command = [setpriv, "--bounding-set=-dac_override", *command]
    worker = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None
        port = int(worker.stdout.readline())
        assert [smtp_code(port, n) for n in range(3)] == [451, 451, 451]
        # Each refused connection is really closed: one left open would keep the file's
        # shared memory read-only for every connection the process opens after it.
        assert _open_files(worker.pid, database) == []
        # Writable again: the file, and the -wal and -shm files SQLite made with its mode.
        for path in database.parent.glob(database.name + "*"):
            path.chmod(0o644)
        assert [smtp_code(port, n) for n in range(3, 6)] == [250, 250, 250]
    finally:
        worker.communicate(timeout=60)
    assert worker.returncode == 0
    assert queued(sqlite_url) == 3


# --------------------------------------------------------------------------- durability


def test_the_queue_commits_durably_on_either_database(database_url, tmp_path):
    """What a 250 promises: the queue's commit is made with SQLite's synchronous=FULL in WAL
    (the WAL is synced at the commit), and with PostgreSQL's synchronous_commit=on even where
    the server or the login defaults to off (here: the connection's own options say off)."""
    url = database_url
    if url.startswith("postgres"):
        url += "%20-csynchronous_commit%3Doff"
        with create_engine(normalise_url(url)).connect() as plain:
            assert plain.execute(text("SHOW synchronous_commit")).scalar() == "off"
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    seen: list[tuple[str, ...]] = []

    @event.listens_for(sessions, "before_commit")
    def settings(session: Session) -> None:
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            seen.append(
                (
                    str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()),
                    str(connection.exec_driver_sql("PRAGMA synchronous").scalar()),
                )
            )
        else:
            seen.append((str(connection.exec_driver_sql("SHOW synchronous_commit").scalar()),))

    raw = make_mail()
    SmtpQueue(InboundQueue(sessions)).add(
        [RawMail(raw, "municipal", "smtp", START, "ilze@novads.example.lv", ())]
    )
    expected = ("wal", "2") if engine.dialect.name == "sqlite" else ("on",)  # 2: FULL
    assert seen == [expected]
    engine.dispose()
