"""About one message a second per chat: Telegram asks bots not to send faster into one chat
(core.telegram.org/bots/faq, "avoid sending more than one message per second"), and its
flood control answers a burst with 429. python-telegram-bot's rate limiter paces the bot as a
whole (30/s) and groups (20/min), not a private chat: this adds the per-chat pace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Chats remembered at most; those whose pause is over are forgotten first.
_MAX_CHATS = 10_000


class ChatPacer:
    """``await pacer.wait(chat)`` before each send into ``chat``.

    ``monotonic`` and ``sleep`` are injectable so tests neither wait nor depend on load.
    """

    def __init__(
        self,
        interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}  # chat → the earliest moment of its next send

    async def wait(self, chat: str) -> float:
        """Wait for the chat's turn; how long it waited, in seconds."""
        now = self._monotonic()
        earliest = self._next.get(chat, now)
        pause = max(0.0, earliest - now)
        if pause:
            await self._sleep(pause)
        self._next[chat] = max(now, earliest) + self.interval
        if len(self._next) > _MAX_CHATS:
            self._forget(now)
        return pause

    def _forget(self, now: float) -> None:
        for chat in [c for c, at in self._next.items() if at <= now]:
            del self._next[chat]
