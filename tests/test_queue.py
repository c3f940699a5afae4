"""The inbound queue with mail: what a listener accepted is stored once, whatever fails in
between, and a row leaves the queue in the commit that stores its mail."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select, update

from tests.helpers import make_mail, queue_mails, queue_runner
from triage_desk.clock import FixedClock
from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.raw import arrival_of
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.quarantine import held
from triage_desk.intake.queue import InboundQueue
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import (
    HEAD_REVISION,
    current_revision,
    downgrade,
    make_engine,
    make_session_factory,
)
from triage_desk.storage.db import upgrade as migrate
from triage_desk.storage.models import OutboxItem, QueuedInbound, Ticket

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga


@pytest.fixture
def env(database_url, example_config, classifier):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    pipeline = IntakePipeline(
        sessions,
        desks,
        classifier,
        TemplateRenderer(),
        rules=EmailConfig(acknowledgements_per_sender_per_hour=1000),
        now=FixedClock(NOW + dt.timedelta(minutes=1)),
    )
    intake = EmailIntake(sessions, pipeline, EmailConfig())
    yield sessions, intake
    intake.close()
    engine.dispose()


def count(sessions, model) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def mail(n: int, **kwargs: object) -> RawMail:
    raw = make_mail(
        sender=f"user{n}@novads.example.lv",
        subject=f"Pieprasījums {n}",
        message_id=f"<queue-{n}@novads.example.lv>",
        **kwargs,
    )
    return RawMail(
        raw, "municipal", "smtp", NOW, f"user{n}@novads.example.lv", ("atbalsts@example.lv",)
    )


def test_mail_a_previous_run_left_queued_is_stored_by_the_next(env):
    sessions, intake = env
    queue = InboundQueue(sessions)
    ids = queue_mails(queue, [mail(1), mail(2), mail(3)])
    assert len(set(ids)) == 3 and queue.waiting() == 3
    # The process that accepted them is gone; a new runner finds them.
    assert queue_runner(intake).drain() == 3
    assert queue.waiting() == 0
    assert count(sessions, Ticket) == 3 and count(sessions, OutboxItem) == 3


def test_the_queue_keeps_the_envelope_and_the_receipt_time(env):
    sessions, _intake = env
    queue = InboundQueue(sessions)
    original = mail(1)
    queue_mails(queue, [original])
    [entry] = queue.due(10)
    assert entry.item == arrival_of(original) and entry.attempts == 0
    assert entry.item.channel == "email" and entry.item.meta["recipients"] == [
        "atbalsts@example.lv"
    ]


def test_ids_are_never_reused(env):
    sessions, intake = env
    queue = InboundQueue(sessions)
    [first] = queue_mails(queue, [mail(1)])
    queue_runner(intake).drain()
    [second] = queue_mails(queue, [mail(2)])
    assert second > first  # a 250's "queued as" names one mail for good


def test_a_crash_in_the_storing_commit_leaves_the_rows_and_no_ticket(env, monkeypatch):
    """The rows are deleted in the transaction that stores their tickets: a crash there
    leaves both or neither, and the next run stores each mail once."""
    sessions, intake = env
    queue = InboundQueue(sessions)
    queue_mails(queue, [mail(1), mail(2)])

    def crash(_session, _ids):
        raise SystemExit("killed while storing")

    with monkeypatch.context() as patched:
        patched.setattr(InboundQueue, "delete_in", staticmethod(crash))
        with pytest.raises(SystemExit):
            queue_runner(intake).drain()
    assert count(sessions, Ticket) == 0 and queue.waiting() == 2
    assert queue_runner(intake).drain() == 2  # the next start
    assert queue.waiting() == 0
    assert count(sessions, Ticket) == 2 and count(sessions, OutboxItem) == 2


def test_mail_stored_twice_makes_no_second_ticket_or_reply(env):
    """A second runner that took a row the first already stored (a claim is no lease)."""
    sessions, intake = env
    queue = InboundQueue(sessions)
    queue_mails(queue, [mail(1)])
    queue_mails(queue, [mail(1)])
    assert queue_runner(intake).drain() == 2
    assert queue.waiting() == 0
    assert count(sessions, Ticket) == 1 and count(sessions, OutboxItem) == 1


def test_on_postgresql_a_claim_skips_the_rows_another_runner_is_claiming(env):
    """``FOR UPDATE SKIP LOCKED``: two runners claiming at once take different rows."""
    sessions, _intake = env
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has one writer; its claims take turns")
    queue = InboundQueue(sessions)
    ids = queue_mails(queue, [mail(1), mail(2), mail(3)])
    with sessions.begin() as other:  # the other runner, inside its claim
        locked = select(QueuedInbound.id).where(QueuedInbound.id == ids[1]).with_for_update()
        other.execute(locked)
        claimed = queue.claim(10)
    assert [entry.id for entry in claimed] == [ids[0], ids[2]]
    with sessions() as session:
        starts = dict(session.execute(select(QueuedInbound.id, QueuedInbound.starts)).all())
    assert starts == {ids[0]: 1, ids[1]: 0, ids[2]: 1}  # counted for what it took only


def test_a_mail_that_cannot_be_stored_waits_then_is_quarantined_its_neighbours_go_on(
    env, monkeypatch
):
    sessions, intake = env
    queue = InboundQueue(sessions)
    store = intake.pipeline.store

    def failing_for_one(triaged, **kwargs):
        if any(item.inbound.subject == "Pieprasījums 2" for item in triaged):
            raise RuntimeError("disk I/O error")
        return store(triaged, **kwargs)

    monkeypatch.setattr(intake.pipeline, "store", failing_for_one)
    queue_mails(queue, [mail(1), mail(2), mail(3)])
    drainer = queue_runner(intake, queue, max_attempts=2)
    assert drainer.drain() == 2  # the batch failed, its mails went one by one
    assert count(sessions, Ticket) == 2
    with sessions() as session:
        [left] = session.scalars(select(QueuedInbound)).all()
        assert left.attempts == 1 and "disk I/O error" in (left.last_error or "")
        assert left.next_attempt_at > dt.datetime.now(dt.UTC)  # it waits before the next try
    assert drainer.drain() == 0  # not due yet
    with sessions.begin() as session:
        session.execute(
            update(QueuedInbound).values(
                next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    assert drainer.drain() == 1  # second failure: kept in quarantine, not retried for ever
    assert queue.waiting() == 0
    with sessions() as session:
        [item] = held(session)
        assert item.reason == "storage_failed" and item.raw == mail(2).raw
        assert "disk I/O error" in item.detail


def test_an_unparseable_mail_is_quarantined_from_the_queue(env):
    sessions, intake = env
    queue = InboundQueue(sessions)
    broken = RawMail(b"\x00\x01 not a mail at all \xff" * 3, "municipal", "smtp", NOW)
    queue_mails(queue, [broken, mail(1)])
    assert queue_runner(intake).drain() == 2
    assert queue.waiting() == 0 and count(sessions, Ticket) == 1
    with sessions() as session:
        assert [item.raw for item in held(session)] == [broken.raw]


def test_batches_are_prepared_in_a_worker_ahead_of_storing(env):
    sessions, intake = env
    intake.start_workers(1, ["municipal"])
    queue = InboundQueue(sessions)
    queue_mails(queue, [mail(n) for n in range(11)])
    drainer = queue_runner(intake, queue, max_batch=3)
    assert drainer.drain() == 11
    assert count(sessions, Ticket) == 11 and queue.waiting() == 0
    with sessions() as session:
        subjects = session.scalars(select(Ticket.subject).order_by(Ticket.id)).all()
    assert subjects == [f"Pieprasījums {n}" for n in range(11)]  # in the order received


def test_a_database_at_0013_upgrades_with_its_spooled_mail_and_stores_it(env):
    """Migration 0014: every spooled mail is queued as it was (id, envelope, attempts,
    starts, next attempt, last error), ids go on past the spool's, and the mail becomes
    tickets; going back down returns it to the spool."""
    sessions, intake = env
    url = str(sessions.kw["bind"].url.render_as_string(hide_password=False))
    sessions.kw["bind"].dispose()
    downgrade(url, "0013_spool_starts")
    spool = sa.table(
        "mail_spool",
        *(sa.column(n) for n in ("id", "desk", "source", "envelope_sender", "raw", "attempts")),
        *(sa.column(n) for n in ("starts", "received_at", "next_attempt_at", "last_error")),
        sa.column("recipients", sa.JSON()),
    )
    later = NOW + dt.timedelta(minutes=5)
    rows = [
        (mail(1), 0, 0, None, NOW),
        (mail(2), 1, 2, "disk I/O error", later),
        (mail(3), 0, 0, None, NOW),
    ]
    engine = make_engine(url)
    with engine.begin() as connection:
        for raw_mail, attempts, starts, error, next_at in rows:
            connection.execute(
                sa.insert(spool).values(
                    desk=raw_mail.desk,
                    source=raw_mail.source,
                    envelope_sender=raw_mail.envelope_sender,
                    recipients=list(raw_mail.envelope_recipients),
                    raw=raw_mail.raw,
                    received_at=raw_mail.received_at,
                    attempts=attempts,
                    starts=starts,
                    last_error=error,
                    next_attempt_at=next_at,
                )
            )
        # The last one was stored before the upgrade: its id must not come back.
        last = connection.execute(sa.select(sa.func.max(spool.c.id))).scalar()
        connection.execute(sa.delete(spool).where(spool.c.id == last))
    engine.dispose()

    migrate(url)
    assert current_revision(url) == HEAD_REVISION
    queue = InboundQueue(sessions, FixedClock(later))
    entries = queue.due(10)
    assert [(e.item, e.attempts, e.starts) for e in entries] == [
        (arrival_of(mail(1)), 0, 0),
        (arrival_of(mail(2)), 1, 2),
    ]
    with sessions() as session:
        second = session.get(QueuedInbound, entries[1].id)
        assert second is not None and second.last_error == "disk I/O error"
        assert second.next_attempt_at == later
    [new_id] = queue_mails(queue, [mail(4)])
    assert new_id > last  # "queued as N" never names two mails

    downgrade(url, "0013_spool_starts")
    engine = make_engine(url)
    with engine.connect() as connection:
        back = connection.execute(sa.select(spool.c.id, spool.c.starts).order_by(spool.c.id)).all()
    engine.dispose()
    assert [tuple(row) for row in back] == [(entries[0].id, 0), (entries[1].id, 2), (new_id, 0)]
    migrate(url)
    sessions.kw["bind"].dispose()
    # The mail a 250 promised becomes tickets (the one with a failed attempt included).
    runner = queue_runner(intake, queue)
    assert runner.drain() == 3
    assert queue.waiting() == 0 and count(sessions, Ticket) == 3
