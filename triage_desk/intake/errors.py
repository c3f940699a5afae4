"""Why a mail could not be taken in normally. Such mail is quarantined, never dropped."""

from __future__ import annotations

import time


class MailRejected(Exception):
    """A mail that must go to quarantine; ``reason`` is a short key, ``detail`` says more."""

    reason = "unprocessable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unparseable(MailRejected):
    reason = "unparseable"


class LimitExceeded(MailRejected):
    reason = "limit"


class ProcessingTimeout(MailRejected):
    reason = "timeout"


class Deadline:
    """A cooperative time limit: long loops call ``check()`` and stop when time is up.

    Threads cannot be killed in Python, so the steps that can run away on hostile input
    (HTML conversion, quote splitting) check the clock as they go.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.expires = None if seconds is None else time.monotonic() + seconds

    def check(self) -> None:
        if self.expires is not None and time.monotonic() > self.expires:
            raise ProcessingTimeout(f"processing took longer than {self.seconds:g} s")

    @classmethod
    def none(cls) -> Deadline:
        return cls(None)
