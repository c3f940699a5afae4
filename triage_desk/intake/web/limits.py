"""Per-key rate limits (an address, a client address) for the public form, in bounded
memory and on the injected clock."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, deque

from triage_desk.clock import Clock


class RateLimit:
    """At most ``limit`` events per key within ``window``. Past ``max_keys`` the key seen
    least recently is forgotten (a flood of new keys costs memory no more than that)."""

    def __init__(
        self, clock: Clock, limit: int, window: dt.timedelta, max_keys: int = 10_000
    ) -> None:
        self.clock, self.limit, self.window, self.max_keys = clock, limit, window, max_keys
        self._events: OrderedDict[str, deque[dt.datetime]] = OrderedDict()

    def _recent(self, key: str) -> deque[dt.datetime]:
        found = self._events.get(key)
        if found is None:
            found = self._events[key] = deque(maxlen=self.limit)
        cutoff = self.clock() - self.window
        while found and found[0] <= cutoff:
            found.popleft()
        self._events.move_to_end(key)
        return found

    def allows(self, key: str) -> bool:
        """Whether one more event of ``key`` is within the limit (nothing counted)."""
        allowed = len(self._recent(key)) < self.limit
        self._trim()
        return allowed

    def count(self, key: str) -> None:
        self._recent(key).append(self.clock())
        self._trim()

    def allow(self, key: str) -> bool:
        """``allows``, and when it does, the event counted."""
        if not self.allows(key):
            return False
        self.count(key)
        return True

    def _trim(self) -> None:
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)

    def __len__(self) -> int:
        return len(self._events)
