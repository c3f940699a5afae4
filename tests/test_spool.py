"""The SMTP spool: what the listener accepted is stored once, whatever fails in between."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from tests.helpers import make_mail
from triage_desk.clock import FixedClock
from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.spool import MailSpool, SpoolDrainer
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.quarantine import held
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import OutboxItem, SpooledMail, Ticket

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
        message_id=f"<spool-{n}@novads.example.lv>",
        **kwargs,
    )
    return RawMail(
        raw, "municipal", "smtp", NOW, f"user{n}@novads.example.lv", ("atbalsts@example.lv",)
    )


def test_mail_a_previous_run_left_spooled_is_stored_by_the_next(env):
    sessions, intake = env
    spool = MailSpool(sessions)
    ids = spool.add_many([mail(1), mail(2), mail(3)])
    assert len(set(ids)) == 3 and spool.waiting() == 3
    # The process that accepted them is gone; a new drainer finds them.
    assert SpoolDrainer(MailSpool(sessions), intake).drain() == 3
    assert spool.waiting() == 0
    assert count(sessions, Ticket) == 3 and count(sessions, OutboxItem) == 3


def test_the_spool_keeps_the_envelope_and_the_receipt_time(env):
    sessions, _intake = env
    spool = MailSpool(sessions)
    original = mail(1)
    spool.add_many([original])
    [entry] = spool.due(10)
    assert entry.mail == original and entry.attempts == 0


def test_a_crash_between_storing_and_unspooling_makes_no_second_ticket_or_reply(env, monkeypatch):
    sessions, intake = env
    spool = MailSpool(sessions)
    spool.add_many([mail(1), mail(2)])

    def crash(_ids):
        raise SystemExit("killed after the tickets were committed")

    with monkeypatch.context() as patched:
        patched.setattr(spool, "remove", crash)
        with pytest.raises(SystemExit):
            SpoolDrainer(spool, intake).drain()
    assert count(sessions, Ticket) == 2 and spool.waiting() == 2
    SpoolDrainer(MailSpool(sessions), intake).drain()  # the next start
    assert spool.waiting() == 0
    assert count(sessions, Ticket) == 2 and count(sessions, OutboxItem) == 2


def test_a_mail_that_cannot_be_stored_waits_then_is_quarantined_its_neighbours_go_on(
    env, monkeypatch
):
    sessions, intake = env
    spool = MailSpool(sessions)
    store = intake.pipeline.store

    def failing_for_one(triaged):
        if any(item.inbound.subject == "Pieprasījums 2" for item in triaged):
            raise RuntimeError("disk I/O error")
        return store(triaged)

    monkeypatch.setattr(intake.pipeline, "store", failing_for_one)
    spool.add_many([mail(1), mail(2), mail(3)])
    drainer = SpoolDrainer(spool, intake, max_attempts=2)
    assert drainer.drain() == 2  # the batch failed, its mails went one by one
    assert count(sessions, Ticket) == 2
    with sessions() as session:
        [left] = session.scalars(select(SpooledMail)).all()
        assert left.attempts == 1 and "disk I/O error" in (left.last_error or "")
        assert left.next_attempt_at > dt.datetime.now(dt.UTC)  # it waits before the next try
    assert drainer.drain() == 0  # not due yet
    with sessions.begin() as session:
        session.execute(
            update(SpooledMail).values(
                next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    assert drainer.drain() == 1  # second failure: kept in quarantine, not retried for ever
    assert spool.waiting() == 0
    with sessions() as session:
        [item] = held(session)
        assert item.reason == "storage_failed" and item.raw == mail(2).raw
        assert "disk I/O error" in item.detail


def test_an_unparseable_mail_is_quarantined_from_the_spool(env):
    sessions, intake = env
    spool = MailSpool(sessions)
    broken = RawMail(b"\x00\x01 not a mail at all \xff" * 3, "municipal", "smtp", NOW)
    spool.add_many([broken, mail(1)])
    assert SpoolDrainer(spool, intake).drain() == 2
    assert spool.waiting() == 0 and count(sessions, Ticket) == 1
    with sessions() as session:
        assert [item.raw for item in held(session)] == [broken.raw]


def test_batches_are_prepared_in_a_worker_ahead_of_storing(env):
    sessions, intake = env
    intake.start_workers(1, ["municipal"])
    spool = MailSpool(sessions)
    spool.add_many([mail(n) for n in range(11)])
    drainer = SpoolDrainer(spool, intake, max_batch=3)
    assert drainer.drain() == 11
    assert count(sessions, Ticket) == 11 and spool.waiting() == 0
    with sessions() as session:
        subjects = session.scalars(select(Ticket.subject).order_by(Ticket.id)).all()
    assert subjects == [f"Pieprasījums {n}" for n in range(11)]  # in the order received
