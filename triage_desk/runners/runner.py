"""The one interface every runner has (see the package's docstring for its phases)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Runner(Protocol):
    """A queue this process works off: claim, work, commit, inside ``run_once``."""

    # Names the runner in logs and in ``triage run``'s list.
    name: str
    # How long to wait after a run that found nothing (or failed) before the next one.
    idle_seconds: float

    def run_once(self, now: dt.datetime) -> int:
        """Claim what is due at ``now``, work on it, commit the outcome; how many rows were
        done (0: nothing to do, wait ``idle_seconds``; more: run again at once)."""
        ...
