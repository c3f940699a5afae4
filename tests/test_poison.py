"""A mail that kills the process (or its prepare worker) is quarantined, not retried for ever;
a dead prepare worker is replaced, and its batch never runs in the main process.

The kill is real: ``tests/poison_worker.py`` SIGKILLs whatever process parses the marker mail.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select, update

from tests.conftest import ROOT
from tests.helpers import make_mail, queue_mails, queue_runner
from triage_desk.classifier.store import ModelStore
from triage_desk.clock import FixedClock
from triage_desk.config import ConfigError, EmailConfig, parse_config
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.raw import arrival_of
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.queue import InboundQueue
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import current_revision, downgrade, make_engine, make_session_factory
from triage_desk.storage.db import upgrade as migrate
from triage_desk.storage.models import QuarantinedMail, QueuedInbound, Ticket

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # as in poison_worker.py
MAILS = 8  # the drainer takes them 5 at a time: the poison is in the first batch
POISON = 2  # the third mail


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, classifier: Any) -> Path:
    """The session's model on disk, for the drainer processes."""
    folder = tmp_path_factory.mktemp("models")
    ModelStore(folder).save(classifier.model, classifier.meta)
    return folder


def mail(n: int) -> RawMail:
    poisoned = n == POISON
    raw = make_mail(
        sender=f"user{n}@novads.example.lv",
        subject="POISON" if poisoned else f"Pieprasījums {n}",
        body="Labdien! Atskaišu modulis nestrādā." + (" slepens-teksts-42" if poisoned else ""),
        message_id=f"<poison-{n}@novads.example.lv>",
    )
    return RawMail(
        raw, "municipal", "smtp", NOW, f"user{n}@novads.example.lv", ("atbalsts@example.lv",)
    )


def queue_all(url: str) -> list[int]:
    engine = make_engine(url)
    queue = InboundQueue(make_session_factory(engine), FixedClock(NOW))
    ids = queue_mails(queue, [mail(n) for n in range(MAILS)])
    engine.dispose()
    return ids


def drain(url: str, models: Path, mode: str, record: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "poison_worker.py"), url, str(models), mode, record],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def stored(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        subjects = sorted(session.scalars(select(Ticket.subject)))
        held = [(q.reason, q.detail, q.raw) for q in session.scalars(select(QuarantinedMail)).all()]
        queued = int(session.scalar(select(func.count()).select_from(QueuedInbound)) or 0)
    engine.dispose()
    return {"subjects": subjects, "held": held, "queued": queued}


def preparers(record: Path) -> list[tuple[int, str]]:
    """Who parsed what, in order: (pid, 'mail' or 'poison')."""
    lines = record.read_text(encoding="ascii").split("\n") if record.exists() else []
    return [(int(pid), what) for pid, what in (line.split() for line in lines if line)]


GOOD = sorted(f"Pieprasījums {n}" for n in range(MAILS) if n != POISON)


def test_a_mail_that_kills_the_process_is_quarantined_after_the_limit(
    database_url, models, tmp_path
):
    """The drainer dies on the poison mail at every start until its starts reach the limit
    (3); then the poison is quarantined unprocessed, every other mail of its batch is a
    ticket, and the service runs on."""
    ids = queue_all(database_url)
    record = tmp_path / "record"
    runs = []
    for _ in range(6):
        done = drain(database_url, models, "main", record)
        runs.append(done.returncode)
        if done.returncode == 0:
            break
    assert runs == [-signal.SIGKILL] * 3 + [0], done.stderr
    result = stored(database_url)
    assert result["subjects"] == GOOD and result["queued"] == 0
    [(reason, detail, raw)] = result["held"]
    assert (reason, raw) == ("crashed_processing", mail(POISON).raw)
    assert detail == "processing began 3 times; 3 never ended: the process died in them"
    # The poison was parsed three times (once per death), never after: quarantined unread.
    assert [what for _pid, what in preparers(record)].count("poison") == 3
    # One log line for the quarantine, with the queue row and the reason, none of the text.
    lines = [line for line in done.stderr.splitlines() if "quarantined" in line]
    assert len(lines) == 1 and f"queued email {ids[POISON]}: crashed_processing" in lines[0]
    assert "slepens-teksts-42" not in done.stderr and "POISON" not in done.stderr
    again = drain(database_url, models, "main", record)  # nothing left to crash on
    assert again.returncode == 0, again.stderr


def test_a_dead_worker_is_replaced_and_its_batch_never_prepared_in_the_main_process(
    database_url, models, tmp_path
):
    """The worker dies on the poison mail: the batch is prepared again mail by mail in new
    workers, the poison alone kills one more and is quarantined, the main process parses
    nothing and does not die, and a worker is running at the end."""
    ids = queue_all(database_url)
    record = tmp_path / "record"
    done = drain(database_url, models, "worker", record)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    parsed = preparers(record)
    assert facts["pid"] not in {pid for pid, _what in parsed}  # the main process parsed nothing
    poisoned = [pid for pid, what in parsed if what == "poison"]
    assert len(poisoned) == 2  # in its batch, then alone
    assert poisoned[0] in facts["first_workers"] and poisoned[1] not in facts["first_workers"]
    assert facts["replaced"] == 2 and len(facts["workers"]) == 1
    assert facts["workers"][0] not in poisoned
    result = stored(database_url)
    assert result["subjects"] == GOOD and result["queued"] == 0
    [(reason, detail, raw)] = result["held"]
    assert (reason, detail, raw) == (
        "crashed_processing",
        "its prepare worker died preparing it",
        mail(POISON).raw,
    )
    lines = [line for line in done.stderr.splitlines() if "quarantined" in line]
    assert len(lines) == 1 and f"queued email {ids[POISON]}: crashed_processing" in lines[0]
    assert "slepens-teksts-42" not in done.stderr


@pytest.fixture
def intake(database_url: str, example_config: Any, classifier: Any):  # type: ignore[no-untyped-def]
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
    intake = EmailIntake(sessions, pipeline, EmailConfig(max_processing_starts=2))
    yield sessions, intake
    intake.close()
    engine.dispose()


def test_starts_are_committed_before_the_work_and_a_batchmate_is_not_blamed(intake):
    """A death in a batch leaves one unfinished start on each of its mails; afterwards each
    goes alone, so with a limit of 2 only the mail that dies again reaches it."""
    sessions, email_intake = intake
    queue = InboundQueue(sessions, FixedClock(NOW))
    ids = queue_mails(queue, [mail(n) for n in range(4)])

    seen: list[dict[int, int]] = []
    real_begin = email_intake.begin

    def watch(mails, labels):  # type: ignore[no-untyped-def]
        begun = [int(label.rsplit(" ", 1)[1]) for label in labels]  # "queued email N"
        with sessions() as session:  # what another connection sees: committed before work
            rows = session.execute(
                select(QueuedInbound.id, QueuedInbound.starts).where(QueuedInbound.id.in_(begun))
            ).all()
        seen.append({ids.index(row.id): row.starts for row in rows})
        return real_begin(mails, labels)

    # As if a process had died in the batch of all four.
    with sessions.begin() as session:
        session.execute(update(QueuedInbound).values(starts=1))
    email_intake.begin = watch  # type: ignore[method-assign]
    drainer = queue_runner(email_intake, queue, max_batch=10)
    assert drainer.drain() == 4
    # Each alone, in order, and its start counted before it was begun.
    assert seen == [{0: 2}, {1: 2}, {2: 2}, {3: 2}]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(QuarantinedMail)) == 0


def test_a_mail_at_the_limit_is_quarantined_unprocessed(intake):
    sessions, email_intake = intake
    queue = InboundQueue(sessions, FixedClock(NOW))
    ids = queue_mails(queue, [mail(0), mail(1)])
    with sessions.begin() as session:
        session.execute(update(QueuedInbound).where(QueuedInbound.id == ids[0]).values(starts=2))
    assert queue_runner(email_intake, queue).drain() == 1
    with sessions() as session:
        [held] = session.scalars(select(QuarantinedMail)).all()
        assert (held.reason, held.raw) == ("crashed_processing", mail(0).raw)
        assert held.detail == "processing began 2 times; 2 never ended: the process died in them"
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert queue.waiting() == 0


def test_failed_attempts_are_not_taken_for_deaths(intake):
    """A mail whose storing failed (recorded) twice has no unfinished start: it goes on."""
    sessions, email_intake = intake
    queue = InboundQueue(sessions, FixedClock(NOW))
    [queue_id] = queue_mails(queue, [mail(0)])
    with sessions.begin() as session:
        session.execute(
            update(QueuedInbound).where(QueuedInbound.id == queue_id).values(starts=2, attempts=2)
        )
    assert queue_runner(email_intake, queue).drain() == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert session.scalar(select(func.count()).select_from(QuarantinedMail)) == 0


def test_an_error_the_process_survives_is_not_counted_as_a_death(intake, monkeypatch):
    """The database fails while a batch is stored and while the failure is recorded: the
    drain gives up, and the starts it counted are taken back (the process did not die)."""
    sessions, email_intake = intake
    queue = InboundQueue(sessions, FixedClock(NOW))
    queue_mails(queue, [mail(n) for n in range(4)])

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(email_intake.pipeline, "store", refuse)
    monkeypatch.setattr(queue, "postpone", refuse)
    drainer = queue_runner(email_intake, queue, max_batch=2)
    with pytest.raises(RuntimeError):
        drainer.drain()
    with sessions() as session:
        assert session.scalars(select(QueuedInbound.starts)).all() == [0, 0, 0, 0]
    monkeypatch.undo()
    assert drainer.drain() == 4  # and then all four are stored


def test_migrations_0013_and_0014_keep_the_spooled_mail(database_url, example_config, classifier):
    """Mail spooled before 0013 is all there after the head, with no start counted, and is
    stored."""
    downgrade(database_url, "0012_runners")
    assert current_revision(database_url) == "0012_runners"
    spool_at(database_url, [(mail(0), 0, None), (mail(1), 1, "x")])
    migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    queue = InboundQueue(sessions, FixedClock(NOW))
    entries = queue.due(10)
    assert [(e.item, e.attempts, e.starts) for e in entries] == [
        (arrival_of(mail(0)), 0, 0),
        (arrival_of(mail(1)), 1, 0),
    ]
    pipeline = IntakePipeline(
        sessions,
        Desks(example_config),
        classifier,
        TemplateRenderer(),
        rules=EmailConfig(),
        now=FixedClock(NOW + dt.timedelta(minutes=1)),
    )
    assert queue_runner(EmailIntake(sessions, pipeline, EmailConfig()), queue).drain() == 2
    engine.dispose()


def spool_at(url: str, rows: list[tuple[RawMail, int, str | None]]) -> None:
    """Spool ``rows`` (mail, failed attempts, last error) as SMTP did before 0014."""
    spool = sa.table(
        "mail_spool",
        *(sa.column(n) for n in ("desk", "source", "envelope_sender", "raw", "attempts")),
        *(sa.column(n) for n in ("received_at", "next_attempt_at", "last_error")),
        sa.column("recipients", sa.JSON()),
    )
    engine = make_engine(url)
    with engine.begin() as connection:
        for raw_mail, attempts, error in rows:
            connection.execute(
                sa.insert(spool).values(
                    desk=raw_mail.desk,
                    source=raw_mail.source,
                    envelope_sender=raw_mail.envelope_sender,
                    recipients=list(raw_mail.envelope_recipients),
                    raw=raw_mail.raw,
                    received_at=raw_mail.received_at,
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=NOW,
                )
            )
    engine.dispose()


def test_the_start_limit_is_validated(example_config: Any) -> None:
    import tomllib

    from tests.conftest import EXAMPLE_CONFIG

    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw.setdefault("email", {})["max_processing_starts"] = 0
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "test.toml")
    assert "email.max_processing_starts" in str(caught.value)
    assert example_config.email.max_processing_starts == 3
