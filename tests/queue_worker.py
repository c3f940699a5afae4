"""A queue runner process for the crash tests: it SIGKILLs itself at a chosen point.

    python tests/queue_worker.py <database url> <models folder> before-commit|after-commit

``before-commit``: dies inside the first batch's transaction, its rows written (tickets and
the queue rows' delete), not committed. ``after-commit``: dies once the first batch's commit
(tickets and delete together) is made, before the next batch is stored. Either way the
process is gone without cleanup, as after a power cut or OOM kill.
"""

from __future__ import annotations

import os
import signal
import sys

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import queue_runner
from triage_desk.classifier.predict import Classifier
from triage_desk.classifier.store import ModelStore
from triage_desk.config import load_config
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake
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
    runner = queue_runner(EmailIntake(sessions, pipeline, config.email), max_batch=5)
    if point == "before-commit":

        def write_then_die(batch: Batch) -> None:
            batch.session.flush()  # the rows are in the database's transaction, uncommitted
            die()

        pipeline.steps = (*pipeline.steps, write_then_die)  # after the last step, write_rows
    elif point == "after-commit":
        finish = runner._finish

        def finish_then_die(begun):  # type: ignore[no-untyped-def]
            finish(begun)
            die()

        runner._finish = finish_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")
    runner.drain()
    raise SystemExit("the runner finished without reaching the crash point")
