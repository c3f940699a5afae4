"""A queue runner process killed (SIGKILL) in and after the commit that stores a batch and
deletes its rows loses no queued mail, and the next run makes no second ticket and no second
acknowledgement."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers import make_mail, queue_mails, queue_runner
from triage_desk.classifier.store import ModelStore
from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.queue import InboundQueue
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import Direction, Message, OutboxItem, QueuedInbound, Ticket

ROOT = Path(__file__).resolve().parent.parent
MAILS = 12  # the crashing drainer takes them 5 at a time


@pytest.fixture(scope="module")
def models(tmp_path_factory, classifier) -> Path:
    """The session's model on disk, for the runner process."""
    folder = tmp_path_factory.mktemp("models")
    ModelStore(folder).save(classifier.model, classifier.meta)
    return folder


def counts(sessions) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with sessions() as session:

        def n(model, *where) -> int:  # type: ignore[no-untyped-def]
            return int(session.scalar(select(func.count()).select_from(model).where(*where)))

        return {
            "queued": n(QueuedInbound),
            "tickets": n(Ticket),
            "messages": n(Message, Message.direction == Direction.INBOUND),
            "replies": n(OutboxItem),
        }


@pytest.mark.parametrize(("point", "committed_first"), [("before-commit", 0), ("after-commit", 5)])
def test_a_killed_queue_runner_loses_nothing_and_repeats_nothing(
    point, committed_first, database_url, example_config, classifier, models
):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    received = dt.datetime.now(dt.UTC)
    mails = [
        RawMail(
            make_mail(
                sender=f"user{n}@novads.example.lv",
                subject=f"Nr. {n}",
                message_id=f"<crash-{n}@novads.example.lv>",
            ),
            "municipal",
            "smtp",
            received,
            f"user{n}@novads.example.lv",
            ("atbalsts@example.lv",),
        )
        for n in range(MAILS)
    ]
    queue_mails(InboundQueue(sessions), mails)

    crashed = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "queue_worker.py"), database_url, str(models), point],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert counts(sessions) == {
        "queued": MAILS - committed_first,  # deleted in the commit that stored them
        "tickets": committed_first,
        "messages": committed_first,
        "replies": committed_first,
    }

    # The next start works the queue off.
    pipeline = IntakePipeline(
        sessions, Desks(example_config), classifier, TemplateRenderer(), rules=example_config.email
    )
    queue_runner(EmailIntake(sessions, pipeline, EmailConfig())).drain()
    assert counts(sessions) == {"queued": 0, "tickets": MAILS, "messages": MAILS, "replies": MAILS}
    with sessions() as session:
        recipients = session.scalars(select(OutboxItem.recipient)).all()
    assert sorted(recipients) == sorted(f"user{n}@novads.example.lv" for n in range(MAILS))
    engine.dispose()
