"""The one source of "now".

Domain code never reads the wall clock itself: it is handed a ``Clock`` (a callable that
returns an aware UTC datetime), so tests fix the time and pass on any date. The service
wires ``system_clock`` in one place (``app.build_app``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]

__all__ = ["Clock", "FixedClock", "system_clock"]


def system_clock() -> dt.datetime:
    """The wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until moved: ``clock.advance(minutes=5)``, ``clock.set(t)``."""

    def __init__(self, at: dt.datetime) -> None:
        self.set(at)

    def __call__(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(dt.UTC)

    def advance(self, **delta: float) -> dt.datetime:
        self._at += dt.timedelta(**delta)
        return self._at
