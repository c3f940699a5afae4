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
from sqlalchemy import func, select, update

from tests.conftest import ROOT
from tests.helpers import make_mail
from triage_desk.classifier.store import ModelStore
from triage_desk.clock import FixedClock
from triage_desk.config import ConfigError, EmailConfig, parse_config
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.spool import MailSpool, SpoolDrainer
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import current_revision, downgrade, make_engine, make_session_factory
from triage_desk.storage.db import upgrade as migrate
from triage_desk.storage.models import QuarantinedMail, SpooledMail, Ticket

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


def spool_mails(url: str) -> list[int]:
    engine = make_engine(url)
    ids = MailSpool(make_session_factory(engine), FixedClock(NOW)).add_many(
        [mail(n) for n in range(MAILS)]
    )
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
        spooled = int(session.scalar(select(func.count()).select_from(SpooledMail)) or 0)
    engine.dispose()
    return {"subjects": subjects, "held": held, "spooled": spooled}


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
    ids = spool_mails(database_url)
    record = tmp_path / "record"
    runs = []
    for _ in range(6):
        done = drain(database_url, models, "main", record)
        runs.append(done.returncode)
        if done.returncode == 0:
            break
    assert runs == [-signal.SIGKILL] * 3 + [0], done.stderr
    result = stored(database_url)
    assert result["subjects"] == GOOD and result["spooled"] == 0
    [(reason, detail, raw)] = result["held"]
    assert (reason, raw) == ("crashed_processing", mail(POISON).raw)
    assert detail == "processing began 3 times; 3 never ended: the process died in them"
    # The poison was parsed three times (once per death), never after: quarantined unread.
    assert [what for _pid, what in preparers(record)].count("poison") == 3
    # One log line for the quarantine, with the spool row and the reason, none of the text.
    lines = [line for line in done.stderr.splitlines() if "quarantined" in line]
    assert len(lines) == 1 and f"spooled mail {ids[POISON]}: crashed_processing" in lines[0]
    assert "slepens-teksts-42" not in done.stderr and "POISON" not in done.stderr
    again = drain(database_url, models, "main", record)  # nothing left to crash on
    assert again.returncode == 0, again.stderr


def test_a_dead_worker_is_replaced_and_its_batch_never_prepared_in_the_main_process(
    database_url, models, tmp_path
):
    """The worker dies on the poison mail: the batch is prepared again mail by mail in new
    workers, the poison alone kills one more and is quarantined, the main process parses
    nothing and does not die, and a worker is running at the end."""
    ids = spool_mails(database_url)
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
    assert result["subjects"] == GOOD and result["spooled"] == 0
    [(reason, detail, raw)] = result["held"]
    assert (reason, detail, raw) == (
        "crashed_processing",
        "its prepare worker died preparing it",
        mail(POISON).raw,
    )
    lines = [line for line in done.stderr.splitlines() if "quarantined" in line]
    assert len(lines) == 1 and f"spooled mail {ids[POISON]}: crashed_processing" in lines[0]
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
    spool = MailSpool(sessions, FixedClock(NOW))
    ids = spool.add_many([mail(n) for n in range(4)])

    seen: list[dict[int, int]] = []
    real_begin = email_intake.begin

    def watch(mails, labels):  # type: ignore[no-untyped-def]
        begun = [int(label.rsplit(" ", 1)[1]) for label in labels]  # "spooled mail N"
        with sessions() as session:  # what another connection sees: committed before work
            rows = session.execute(
                select(SpooledMail.id, SpooledMail.starts).where(SpooledMail.id.in_(begun))
            ).all()
        seen.append({ids.index(row.id): row.starts for row in rows})
        return real_begin(mails, labels)

    # As if a process had died in the batch of all four.
    with sessions.begin() as session:
        session.execute(update(SpooledMail).values(starts=1))
    email_intake.begin = watch  # type: ignore[method-assign]
    drainer = SpoolDrainer(spool, email_intake, max_batch=10)
    assert drainer.drain() == 4
    # Each alone, in order, and its start counted before it was begun.
    assert seen == [{0: 2}, {1: 2}, {2: 2}, {3: 2}]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(QuarantinedMail)) == 0


def test_a_mail_at_the_limit_is_quarantined_unprocessed(intake):
    sessions, email_intake = intake
    spool = MailSpool(sessions, FixedClock(NOW))
    ids = spool.add_many([mail(0), mail(1)])
    with sessions.begin() as session:
        session.execute(update(SpooledMail).where(SpooledMail.id == ids[0]).values(starts=2))
    assert SpoolDrainer(spool, email_intake).drain() == 1
    with sessions() as session:
        [held] = session.scalars(select(QuarantinedMail)).all()
        assert (held.reason, held.raw) == ("crashed_processing", mail(0).raw)
        assert held.detail == "processing began 2 times; 2 never ended: the process died in them"
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert spool.waiting() == 0


def test_failed_attempts_are_not_taken_for_deaths(intake):
    """A mail whose storing failed (recorded) twice has no unfinished start: it goes on."""
    sessions, email_intake = intake
    spool = MailSpool(sessions, FixedClock(NOW))
    [spool_id] = spool.add_many([mail(0)])
    with sessions.begin() as session:
        session.execute(
            update(SpooledMail).where(SpooledMail.id == spool_id).values(starts=2, attempts=2)
        )
    assert SpoolDrainer(spool, email_intake).drain() == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert session.scalar(select(func.count()).select_from(QuarantinedMail)) == 0


def test_an_error_the_process_survives_is_not_counted_as_a_death(intake, monkeypatch):
    """The database fails while a batch is stored and while the failure is recorded: the
    drain gives up, and the starts it counted are taken back (the process did not die)."""
    sessions, email_intake = intake
    spool = MailSpool(sessions, FixedClock(NOW))
    spool.add_many([mail(n) for n in range(4)])

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(email_intake.pipeline, "store", refuse)
    monkeypatch.setattr(spool, "postpone", refuse)
    drainer = SpoolDrainer(spool, email_intake, max_batch=2)
    with pytest.raises(RuntimeError):
        drainer.drain()
    with sessions() as session:
        assert session.scalars(select(SpooledMail.starts)).all() == [0, 0, 0, 0]
    monkeypatch.undo()
    assert drainer.drain() == 4  # and then all four are stored


def test_migration_0013_keeps_the_spooled_mail(database_url, example_config, classifier):
    """Mail spooled before 0013 is all there after it, with no start counted, and drains."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    spool = MailSpool(sessions, FixedClock(NOW))
    ids = spool.add_many([mail(0), mail(1)])
    with sessions.begin() as session:
        session.execute(
            update(SpooledMail).where(SpooledMail.id == ids[1]).values(attempts=1, last_error="x")
        )
    engine.dispose()
    downgrade(database_url, "0012_runners")
    assert current_revision(database_url) == "0012_runners"
    migrate(database_url)
    entries = spool.due(10)
    assert [(e.id, e.mail, e.attempts, e.starts) for e in entries] == [
        (ids[0], mail(0), 0, 0),
        (ids[1], mail(1), 1, 0),
    ]
    pipeline = IntakePipeline(
        sessions,
        Desks(example_config),
        classifier,
        TemplateRenderer(),
        rules=EmailConfig(),
        now=FixedClock(NOW + dt.timedelta(minutes=1)),
    )
    assert SpoolDrainer(spool, EmailIntake(sessions, pipeline, EmailConfig())).drain() == 2
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
