"""The dispatcher as a runner: ``Dispatcher.run_once`` behind the ``Runner`` interface.

Its phases are per outbox item (``responders/dispatcher.py``): claim one item (attempt,
``claimed_at`` and a lease committed), send it with no transaction open, record the outcome
if the claim still holds. One item at a time, not a batch, so a crash leaves at most one
send in doubt and a slow relay never outlives the leases of items still waiting.
"""

from __future__ import annotations

import datetime as dt

from triage_desk.responders.dispatcher import Dispatcher


class DispatchRunner:
    name = "dispatcher"

    def __init__(self, dispatcher: Dispatcher, idle_seconds: float, batch: int = 100) -> None:
        self.dispatcher = dispatcher
        self.idle_seconds = idle_seconds
        self.batch = batch

    def run_once(self, now: dt.datetime) -> int:
        # ``now`` is not used: each claim reads the dispatcher's clock, as sends take time
        # and a lease starts when its item is claimed.
        report = self.dispatcher.run_once(self.batch)
        return report.sent + report.retried + report.dead
