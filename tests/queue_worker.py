"""A spool-draining process for the crash tests: it SIGKILLs itself at a chosen point.

    python tests/spool_worker.py <database url> <models folder> before-commit|after-commit

``before-commit``: dies inside the first batch's transaction, its rows written, not committed.
``after-commit``: dies once the first batch's tickets are committed, before their spool rows
are deleted. Either way the process is gone without cleanup, as after a power cut or OOM kill.
"""

from __future__ import annotations

import os
import signal
import sys

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.classifier.predict import Classifier
from triage_desk.classifier.store import ModelStore
from triage_desk.config import load_config
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.email.spool import MailSpool, SpoolDrainer
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.steps import Batch
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory


def die(*_args: object, **_kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    url, models, point = sys.argv[1], sys.argv[2], sys.argv[3]
    config = load_config(EXAMPLE_CONFIG)
    sessions = make_session_factory(make_engine(url))
    model, meta = ModelStore(__import__("pathlib").Path(models)).load()
    pipeline = IntakePipeline(
        sessions, Desks(config), Classifier(model, meta), TemplateRenderer(), rules=config.email
    )
    spool = MailSpool(sessions)
    if point == "before-commit":

        def write_then_die(batch: Batch) -> None:
            batch.session.flush()  # the rows are in the database's transaction, uncommitted
            die()

        pipeline.steps = (*pipeline.steps, write_then_die)  # after the last step, write_rows
    elif point == "after-commit":
        spool.remove = die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")
    SpoolDrainer(spool, EmailIntake(sessions, pipeline, config.email), max_batch=5).drain()
    raise SystemExit("the drainer finished without reaching the crash point")
