"""Why a mail could not be taken in normally. Such mail is quarantined, never dropped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TIME_LIMIT_KEY = "email.processing_time_limit_seconds"


class MailRejected(Exception):
    """A mail that must go to quarantine; ``reason`` is a short key, ``detail`` says more."""

    reason = "unprocessable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unparseable(MailRejected):
    reason = "unparseable"


class LimitExceeded(MailRejected):
    """A hard limit broken; the detail names the configuration key that would allow it."""

    reason = "limit"


class ProcessingTimeout(MailRejected):
    reason = "timeout"


class Deadline:
    """One mail's time budget: long loops call ``check()`` and stop when it is spent.

    Threads cannot be killed in Python, so every step that can run long on hostile input
    (parsing, HTML conversion, quote splitting, classification, knowledge-base lookup)
    checks the budget as it goes, and says which ``step`` was running when it ran out.

    Only the time spent on this mail counts: the budget runs from creation, is paused
    while other mails of its batch are worked on (``pause``, ``running``), and a step done
    for a whole batch at once ``charge``s each mail its share. ``timer`` is a monotonic
    clock (tests pass their own).
    """

    def __init__(
        self,
        seconds: float | None,
        timer: Callable[[], float] = time.monotonic,
        step: str = "parsing",
    ) -> None:
        self.seconds = seconds
        self.timer = timer
        self.step = step
        self.spent = 0.0
        self._since: float | None = timer()
        self._late_in: str | None = None  # the step that used up the budget, once it is

    @classmethod
    def none(cls) -> Deadline:
        return cls(None)

    def elapsed(self) -> float:
        running = 0.0 if self._since is None else self.timer() - self._since
        return self.spent + running

    @property
    def expired(self) -> bool:
        if self.seconds is None:
            return False
        if self._late_in is None and self.elapsed() > self.seconds:
            self._late_in = self.step
        return self._late_in is not None

    def check(self) -> None:
        if self.expired:
            raise ProcessingTimeout(
                f"processing took longer than {self.seconds:g} s, in step {self._late_in!r} "
                f"({TIME_LIMIT_KEY})"
            )

    @contextmanager
    def at(self, step: str) -> Iterator[None]:
        """Name the step running inside (for the timeout's detail); checked on the way in
        and out."""
        self.check()
        outer, self.step = self.step, step
        try:
            yield
            self.check()
        finally:
            self.step = outer

    def pause(self) -> None:
        if self._since is not None:
            self.spent += self.timer() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = self.timer()

    @contextmanager
    def running(self, step: str) -> Iterator[None]:
        """This mail's own work (of a paused budget), under the step's name."""
        self.resume()
        try:
            with self.at(step):
                yield
        finally:
            self.pause()

    def charge(self, seconds: float, step: str) -> None:
        """Add this mail's share of a step done for a whole batch."""
        outer, self.step = self.step, step
        self.spent += seconds
        _ = self.expired  # notes the step, if this share used up the budget
        self.step = outer


DeadlineFactory = Callable[[], Deadline]
