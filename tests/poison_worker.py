"""A queue runner process for the poison tests: a marker mail kills whatever prepares it.

    python tests/poison_worker.py <database url> <models folder> main|worker <record file>

Every process that parses a mail appends ``<pid> <queue label or subject marker>`` to the
record file first; the one that parses a mail carrying ``POISON`` then SIGKILLs itself, as
an out-of-memory kill or a segfault in a C parser would end it. ``main``: no prepare worker,
so the runner process itself dies. ``worker``: one prepare worker, forked after the hook is
in place, so the worker (and each replacement) dies. At the end the process prints a JSON
line: its pid, the workers at the start and at the end, and how many were replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import queue_runner
from triage_desk.classifier.predict import Classifier
from triage_desk.classifier.store import ModelStore
from triage_desk.clock import FixedClock
from triage_desk.config import load_config
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.email.prepare import MailPreparer, RawMail
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.queue import InboundQueue
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory

MARKER = b"POISON"
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga


def install_hook(record: Path) -> None:
    parse = MailPreparer.parse

    def parse_or_die(self: MailPreparer, mail: RawMail, *rest):  # type: ignore[no-untyped-def]
        poisoned = MARKER in mail.raw
        with record.open("a", encoding="ascii") as out:
            out.write(f"{os.getpid()} {'poison' if poisoned else 'mail'}\n")
        if poisoned:
            os.kill(os.getpid(), signal.SIGKILL)
        return parse(self, mail, *rest)

    MailPreparer.parse = parse_or_die  # type: ignore[method-assign]


if __name__ == "__main__":
    url, models, mode, record = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = load_config(EXAMPLE_CONFIG)
    sessions = make_session_factory(make_engine(url))
    model, meta = ModelStore(Path(models)).load()
    rules = config.email.model_copy(update={"acknowledgements_per_sender_per_hour": 1000})
    pipeline = IntakePipeline(
        sessions,
        Desks(config),
        Classifier(model, meta),
        TemplateRenderer(),
        rules=rules,
        now=FixedClock(NOW + dt.timedelta(minutes=1)),
    )
    install_hook(record)
    intake = EmailIntake(sessions, pipeline, rules)
    if mode == "worker":
        intake.start_workers(1, ["municipal"])
        assert intake.workers is not None, "no worker was forked"
    elif mode != "main":
        raise SystemExit(f"unknown mode {mode!r}")
    first = list(intake.workers.pids) if intake.workers else []
    queue_runner(intake, InboundQueue(sessions, FixedClock(NOW)), max_batch=5).drain()
    facts = {
        "pid": os.getpid(),
        "first_workers": first,
        "workers": list(intake.workers.pids) if intake.workers else [],
        "replaced": intake.workers.replaced if intake.workers else 0,
    }
    intake.close()
    print(json.dumps(facts))
