"""Intake with forked prepare workers (intake.workers): the same tickets, replies and
quarantine as without them, and nothing lost when a worker dies, hangs or fails.

Workers are forked, and lingua's threads do not survive a fork: a worker must come from a
process that has not detected a language yet. This test process has (the shared
classifier), so every worker here runs in a fresh child process, as `triage` does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLE_CONFIG, ROOT
from tests.dovecot import Account, Dovecot, serve_for_tests
from tests.helpers import make_mail
from triage_desk.classifier import language
from triage_desk.classifier.store import ModelStore
from triage_desk.intake.email.imap_listener import KEYWORD
from triage_desk.storage.db import make_engine, make_session_factory, upgrade
from triage_desk.storage.models import (
    Direction,
    Message,
    OutboxItem,
    QuarantinedMail,
    Suggestion,
    Ticket,
)

NOW = dt.datetime(2026, 11, 30, 19, 0, tzinfo=dt.UTC)  # a Monday evening: out of hours
PASSWORD_ENV = "TEST_WORKERS_IMAP_PASSWORD"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    yield from serve_for_tests()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory, classifier: Any) -> Path:
    """The session's model on disk, for the child processes."""
    folder = tmp_path_factory.mktemp("models")
    ModelStore(folder).save(classifier.model, classifier.meta)
    return folder


def write_config(tmp_path: Path, models_dir: Path, account: Account | None) -> Path:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('models_dir = "var/models"', f'models_dir = "{models_dir}"')
    text = text.replace('file_dir = "var/outbox"', f'file_dir = "{tmp_path / "outbox"}"')
    assert "[email]" not in text
    # The mails are appended with an old INTERNALDATE: acknowledge them all the same.
    text += "\n[email]\nacknowledge_max_age_hours = 10000000\n"
    if account is not None:
        text += (
            f'\n[[desks.municipal.mailboxes]]\nname = "inbox"\nhost = "{account.host}"\n'
            f'port = {account.port}\nsecurity = "none"\nusername = "{account.user}"\n'
            f'password_env = "{PASSWORD_ENV}"\n'
        )
    tomllib.loads(text)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def child_env(url: str, account: Account | None = None) -> dict[str, str]:
    env = {**os.environ, "TRIAGE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    if account is not None:
        env[PASSWORD_ENV] = account.password
    return env


def mix() -> list[bytes]:
    """New requests in three languages, a reply to one of them (same batch), an
    out-of-office reply, and an empty mail (quarantined)."""
    parent = "<parent.1@novads.example.lv>"
    return [
        make_mail(
            subject="Aizmirsu paroli",
            body="Labdien! Aizmirsu paroli, kā to atjaunot?",
            sender="Anna <anna@novads.example.lv>",
            message_id=parent,
        ),
        make_mail(
            subject="Report button does nothing",
            body="Hello, the Create button in the reports module does nothing at all.",
            sender="Tom <tom@novads.example.lv>",
            message_id="<en.1@novads.example.lv>",
        ),
        make_mail(
            subject="Не работает отчёт",
            body="Здравствуйте! Кнопка создания отчёта не работает, помогите.",
            sender="Иван <ivan@novads.example.lv>",
            message_id="<ru.1@novads.example.lv>",
        ),
        make_mail(
            subject="Re: Aizmirsu paroli",
            body="Joprojām nevaru ieiet.",
            sender="Anna <anna@novads.example.lv>",
            message_id="<parent.2@novads.example.lv>",
            extra_headers={"In-Reply-To": parent, "References": parent},
        ),
        make_mail(
            subject="Automatic reply: Atskaite",
            body="I am out of the office.",
            sender="Out <out@novads.example.lv>",
            message_id="<out.1@novads.example.lv>",
            extra_headers={"Auto-Submitted": "auto-replied"},
        ),
        make_mail(
            subject="Datu imports",
            body="Lūdzu, ielādējiet pievienotos datus sistēmā.",
            sender="Pēteris <peteris@novads.example.lv>",
            message_id="<data.1@novads.example.lv>",
        ),
        b"\r\n",
    ]


def stored(url: str) -> dict[str, Any]:
    """What intake wrote, without ids and times that differ from run to run."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            tickets = sorted(
                session.execute(
                    select(
                        Ticket.number,
                        Ticket.subject,
                        Ticket.category,
                        Ticket.feedback_type,
                        Ticket.status,
                        Ticket.language,
                        Ticket.response_due,
                        Ticket.category_confirmed,
                    )
                ).all()
            )
            messages = sorted(
                session.execute(
                    select(
                        Message.external_id, Ticket.number, Message.author_kind, Message.new_text
                    )
                    .join(Ticket, Message.ticket_id == Ticket.id)
                    .where(Message.direction == Direction.INBOUND)
                ).all()
            )
            replies = sorted(
                session.execute(
                    select(
                        OutboxItem.kind,
                        OutboxItem.recipient,
                        OutboxItem.subject,
                        OutboxItem.body_text,
                    )
                ).all()
            )
            suggestions = sorted(
                session.execute(
                    select(Suggestion.category, Suggestion.confidence, Suggestion.needs_refinement)
                ).all()
            )
            held = sorted(session.execute(select(QuarantinedMail.reason)).all())
    finally:
        engine.dispose()
    return {
        "tickets": tickets,
        "messages": messages,
        "replies": replies,
        "suggestions": suggestions,
        "quarantine": held,
    }


def test_fetch_with_a_worker_stores_exactly_what_fetch_without_one_stores(
    dovecot, tmp_path, models_dir
):
    results = {}
    for workers in (0, 1):
        account = dovecot.add_user()
        account.append(mix(), when=NOW)
        folder = tmp_path / f"w{workers}"
        folder.mkdir()
        config = write_config(folder, models_dir, account)
        url = f"sqlite:///{folder / 'triage.sqlite'}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "triage_desk",
                "--config",
                str(config),
                "fetch",
                "--once",
                "--json",
                "--workers",
                str(workers),
            ],
            env=child_env(url, account),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert (report["fetched"], report["quarantined"], report["error"]) == (7, 1, None)
        # With a worker the worker did the work (it never fell back to this process).
        assert ("prepare worker" in done.stderr) == bool(workers), done.stderr
        assert "preparing" not in done.stderr, done.stderr
        flags = account.flags()
        assert all(KEYWORD in flags[uid] for uid in flags)
        results[workers] = stored(url)
    without, with_worker = results[0], results[1]
    assert with_worker == without
    # And it is the right thing: the reply joined its parent's ticket, the robot got no
    # acknowledgement, the empty mail is held.
    numbers = {external_id: number for external_id, number, *_ in with_worker["messages"]}
    assert numbers["parent.1@novads.example.lv"] == numbers["parent.2@novads.example.lv"]
    assert len(with_worker["tickets"]) == 5
    assert len(with_worker["replies"]) == 4  # not the reply, not the robot
    assert with_worker["quarantine"] == [("unparseable",)]


# A child process with one worker, put through one fault; prints a JSON line of facts.
CHILD = r"""
import datetime as dt, json, os, signal, sys, time
from tests.helpers import make_mail
from triage_desk.app import build_app
from triage_desk.config import load_config
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.email.prepare import RawMail

config_path, scenario = sys.argv[1], sys.argv[2]
app = build_app(load_config(config_path))
NOW = dt.datetime(2026, 11, 30, 19, 0, tzinfo=dt.UTC)

def mails(count, tag):
    return [RawMail(make_mail(subject=f"Atskaite {tag}{i}",
                              sender=f"P{i} <p{i}.{tag}@novads.example.lv>",
                              message_id=f"<{tag}.{i}@novads.example.lv>"),
                    "municipal", "test", NOW) for i in range(count)]

def stored(outcomes):
    return sum(1 for o in outcomes if o.result is not None and o.result.created_ticket)

def running(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False

def gone(pid):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.05)
    return False

intake = app.email_intake
facts = {}
if scenario == "hangs":
    rules = app.config.email.model_copy(update={"processing_time_limit_seconds": 0.2})
    intake = EmailIntake(app.sessions, app.pipeline, rules)
    # Long enough for a new worker to load the language models before its first mail.
    intake.worker_grace_seconds = 5.0
if scenario == "fails":
    class Broken:
        semantic = False
        def classify_many(self, items, semantic=None):
            raise RuntimeError("broken in the worker")
    triage = intake.preparer.triage
    real, triage.classifier = triage.classifier, Broken()
    intake.start_workers(1, ["municipal"])  # the worker is forked with the broken one,
    triage.classifier = real                # this process keeps the real one
else:
    intake.start_workers(2 if scenario == "two" else 1, ["municipal"])
workers = intake.workers
pids = list(workers.pids)
facts["workers"] = len(pids)
if scenario == "dies":
    os.kill(pids[0], signal.SIGSTOP)  # the batch cannot be begun before the kill
    pending = intake.begin(mails(3, "dies"))
    os.kill(pids[0], signal.SIGKILL)
    facts["stored"] = stored(intake.finish(pending))
    facts["after"] = stored(intake.ingest_many(mails(2, "after")))
    facts["workers_left"] = intake.workers is not None
    facts["replaced"] = workers.replaced
    facts["new_worker"] = workers.pids != pids and all(running(p) for p in workers.pids)
elif scenario == "hangs":
    os.kill(pids[0], signal.SIGSTOP)  # alive, but never answers
    began = time.monotonic()
    facts["stored"] = stored(intake.finish(intake.begin(mails(2, "hung"))))
    facts["waited"] = time.monotonic() - began
    facts["ended"] = gone(pids[0])
    facts["replaced"] = workers.replaced
elif scenario == "fails":
    facts["stored"] = stored(intake.ingest_many(mails(3, "fails")))
    facts["alive"] = intake.workers.alive
elif scenario == "behind":
    os.kill(pids[0], signal.SIGSTOP)  # the worker is busy (here: stopped)
    batches = [intake.begin(mails(2, f"behind{i}")) for i in range(3)]
    facts["handed_over"] = [b.future is not None for b in batches]
    os.kill(pids[0], signal.SIGCONT)
    facts["stored"] = sum(stored(intake.finish(b)) for b in batches)
elif scenario == "split":
    # A backlog's batch: this process prepares part of it while the worker does the rest.
    batch = mails(40, "split")
    pending = intake.begin(batch)
    facts["kept"] = len(pending.kept)
    outcomes = intake.finish(pending)
    facts["stored"] = stored(outcomes)
    from sqlalchemy import select
    from triage_desk.storage.models import Message
    with app.sessions() as session:
        subjects = dict(session.execute(select(Message.id, Message.subject)).all())
    # Each outcome belongs to its own mail, whichever process prepared it.
    facts["aligned"] = all(
        subjects[o.result.message_id] == f"Atskaite split{i}" for i, o in enumerate(outcomes)
    )
    facts["small_kept"] = len(intake.begin(mails(2, "small")).kept)
elif scenario == "two":
    facts["stored"] = stored(intake.ingest_many(mails(4, "two")))
    intake.close()
    facts["workers_left"] = intake.workers is not None
    facts["running"] = sum(1 for p in pids if not gone(p))
    facts["after"] = stored(intake.ingest_many(mails(1, "closed")))
intake.close()
print(json.dumps(facts))
"""


def run_child(tmp_path: Path, models_dir: Path, scenario: str) -> dict[str, Any]:
    config = write_config(tmp_path, models_dir, None)
    url = f"sqlite:///{tmp_path / 'triage.sqlite'}"
    upgrade(url)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(config), scenario],
        env=child_env(url),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_worker_that_dies_is_replaced_and_its_waiting_batch_goes_to_the_new_one(
    tmp_path, models_dir
):
    facts = run_child(tmp_path, models_dir, "dies")
    assert facts == {
        "workers": 1,
        "stored": 3,
        "after": 2,
        "workers_left": True,
        "replaced": 1,
        "new_worker": True,
    }


def test_a_hung_worker_is_ended_and_replaced_and_its_batch_prepared_mail_by_mail(
    tmp_path, models_dir
):
    facts = run_child(tmp_path, models_dir, "hangs")
    assert (facts["stored"], facts["ended"], facts["replaced"]) == (2, True, 1)
    assert 5.0 <= facts["waited"] < 60  # 2 mails x 0.2 s + 5 s of grace, then alone


def test_a_batch_the_worker_fails_on_is_prepared_again_by_the_main_process(tmp_path, models_dir):
    facts = run_child(tmp_path, models_dir, "fails")
    assert facts == {"workers": 1, "stored": 3, "alive": 1}  # and the worker still serves


def test_a_batch_is_kept_for_the_main_process_while_the_worker_is_behind(tmp_path, models_dir):
    facts = run_child(tmp_path, models_dir, "behind")
    assert facts == {"workers": 1, "handed_over": [True, True, False], "stored": 6}


def test_a_large_batch_is_split_between_this_process_and_the_worker(tmp_path, models_dir):
    facts = run_child(tmp_path, models_dir, "split")
    assert 0 < facts["kept"] <= 20  # at most half: the rest went to the worker
    assert (facts["stored"], facts["aligned"]) == (40, True)
    assert facts["small_kept"] == 0  # a live mailbox's few mails all go to the worker


def test_two_workers_share_batches_and_stop_with_close(tmp_path, models_dir):
    facts = run_child(tmp_path, models_dir, "two")
    assert facts == {"workers": 2, "stored": 4, "workers_left": False, "running": 0, "after": 1}


def test_no_worker_is_forked_once_the_language_detector_is_loaded(
    monkeypatch, sqlite_url, classifier, example_config
):
    """Its threads would be missing in the child, which would then wait forever."""
    from triage_desk.app import build_app

    language.warm_up()
    app = build_app(example_config, migrate=False, classifier=classifier, database_url=sqlite_url)
    app.email_intake.start_workers(1, ["municipal"])
    assert app.email_intake.workers is None
