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

    def allow(self, *keys: str) -> bool:
        """Count one event for every key when each is under its limit; else count none."""
        recents = [self._recent(key) for key in keys]
        if any(len(recent) >= self.limit for recent in recents):
            self._trim()
            return False
        now = self.clock()
        for recent in recents:
            recent.append(now)
        self._trim()
        return True

    def _trim(self) -> None:
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)

    def __len__(self) -> int:
        return len(self._events)
