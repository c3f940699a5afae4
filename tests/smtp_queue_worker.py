"""The SMTP listener and its queue commit in a process of their own, for the read-only tests.

    python -m tests.smtp_queue_worker <database url>

Prints the listening port, serves until stdin closes, then exits 0. It is the service's
path to a 250 (``SmtpIntakeHandler`` → group commit → ``InboundQueue.enqueue``) without the
queue runner behind it, so no model is needed.
"""

from __future__ import annotations

import sys

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.config import load_config
from triage_desk.desks import Desks
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.intake.email.smtp_queue import SmtpQueue
from triage_desk.intake.queue import InboundQueue
from triage_desk.storage.db import make_engine, make_session_factory

if __name__ == "__main__":
    engine = make_engine(sys.argv[1])
    batcher = SmtpQueue(InboundQueue(make_session_factory(engine)))
    desks = Desks(load_config(EXAMPLE_CONFIG))
    listener = SmtpListener(SmtpIntakeHandler(desks, batcher.submit), "127.0.0.1", 0, 200_000)
    listener.start()
    print(listener.port, flush=True)
    sys.stdin.read()
    listener.stop()
    batcher.close()
    engine.dispose()
