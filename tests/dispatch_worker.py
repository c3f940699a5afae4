"""A dispatcher process for the crash test: logs every send, optionally slowly.

    python -m tests.dispatch_worker <database url> <log file> <delay s> <lease s>

Runs until nothing is pending (an item in flight when an earlier worker was killed waits
for its lease to end, then goes once more).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

from sqlalchemy import func, select

import tests.conftest  # noqa: F401  (under faketime it gives this process a working time.sleep)
from triage_desk.responders.dispatcher import Dispatcher
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import OutboxItem, OutboxStatus


class LoggingTransport:
    def __init__(self, log_path: str, delay: float) -> None:
        self.log_path, self.delay = log_path, delay

    def send(self, item: OutboxItem) -> None:
        time.sleep(self.delay)
        with open(self.log_path, "a") as log:
            log.write(f"{item.id}\n")
            log.flush()
            os.fsync(log.fileno())


if __name__ == "__main__":
    url, log_path, delay, lease = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    sessions = make_session_factory(make_engine(url))
    dispatcher = Dispatcher(
        sessions,
        {"email": LoggingTransport(log_path, delay)},
        lease=dt.timedelta(seconds=float(lease)),
    )
    while True:
        if dispatcher.run_once(limit=10).sent:
            continue
        with sessions() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.status == OutboxStatus.PENDING)
            )
        if not pending:
            break
        time.sleep(0.1)
