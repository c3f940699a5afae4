"""A dispatcher process for the crash test: logs every send, optionally slowly."""

from __future__ import annotations

import os
import sys
import time

from triage_desk.responders.dispatcher import Dispatcher
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import OutboxItem


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
    url, log_path, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sessions = make_session_factory(make_engine(url))
    dispatcher = Dispatcher(sessions, {"email": LoggingTransport(log_path, delay)})
    while dispatcher.run_once(limit=10).sent:
        pass
