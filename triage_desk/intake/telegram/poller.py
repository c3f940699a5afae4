"""Long polling that loses nothing: our own ``getUpdates`` loop for one desk's bot.

python-telegram-bot's ``Updater`` confirms updates to Telegram (the next ``getUpdates``
offset) before they are handled, so a crash loses what it held. Here each round commits the
updates to the inbound queue first, and only the next round's ``offset`` (the last update id
+ 1) confirms them. A process killed in between gets the same updates again from Telegram;
they carry the same external id (chat and message), so deduplication makes them one message.

One poller per bot across processes: a database lease (``storage.leases``), renewed every
round. Telegram answers a second poller (or one while a webhook is set) with 409
``Conflict``; that is logged and waited out, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot
from telegram.error import Conflict, InvalidToken, TelegramError

from triage_desk.config import Config
from triage_desk.intake.queue import InboundQueue
from triage_desk.intake.telegram.links import make_bot
from triage_desk.intake.telegram.updates import arrival
from triage_desk.storage.leases import Lease

log = logging.getLogger(__name__)

POLL_SECONDS = 25  # Telegram holds a getUpdates this long when nothing comes
LEASE_MARGIN = 60.0  # a lease outlives one round by this much (slow network, slow commit)
RETRY_SECONDS = 5.0  # after a refusal or an outage, before asking again
# What the poller asks for; any other kind of update stays on Telegram's side.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")


class NotHolder(Exception):
    """Another process holds this bot's lease and polls it."""


class TelegramPoller:
    """``wake`` is told after each commit (the queue runner's loop)."""

    def __init__(
        self,
        desk: str,
        bot: Bot,
        queue: InboundQueue,
        lease: Lease,
        wake: Callable[[], None] = lambda: None,
        *,
        poll_seconds: int = POLL_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        limit: int = 100,
    ) -> None:
        self.desk = desk
        self.bot = bot
        self.queue = queue
        self.lease = lease
        self.wake = wake
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.limit = limit
        # The next update wanted; None at start: Telegram resends what was never confirmed.
        self.offset: int | None = None

    async def poll_once(self) -> int:
        """One round: the lease renewed, the updates since ``offset`` fetched (which
        confirms the ones before it), the desk's committed to the queue, and only then the
        offset moved past them. How many were queued; ``NotHolder`` while another polls."""
        if not await asyncio.to_thread(self.lease.take):
            raise NotHolder(self.lease.name)
        updates = await self.bot.get_updates(
            offset=self.offset,
            limit=self.limit,
            timeout=self.poll_seconds,
            allowed_updates=list(ALLOWED_UPDATES),
        )
        if not updates:
            return 0
        received = self.queue.clock()
        items = [
            item
            for update in updates
            if (item := arrival(update.to_dict(), self.desk, received)) is not None
        ]
        if len(items) < len(updates):
            log.info(
                "%s desk's bot: %d update(s) that are no private message ignored",
                self.desk,
                len(updates) - len(items),
            )
        if items:
            await asyncio.to_thread(self.queue.enqueue, items)
            self.wake()
        self.offset = updates[-1].update_id + 1  # committed: the next round confirms them
        return len(items)

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop``; every failure waited out, the lease let go at the end."""
        waiting_for_lease = False
        try:
            while not stop.is_set():
                try:
                    await self.poll_once()
                    waiting_for_lease = False
                    continue
                except NotHolder:
                    if not waiting_for_lease:
                        log.info("%s desk's bot is polled by another process", self.desk)
                    waiting_for_lease = True
                    pause = self.lease.seconds / 3
                except Conflict as exc:
                    log.warning(
                        "%s desk's bot: Telegram refused getUpdates (%s); is a webhook set, or "
                        "another program polling this bot?",
                        self.desk,
                        exc.message,
                    )
                    pause = self.retry_seconds
                except InvalidToken as exc:
                    log.error("%s desk's bot: the token is refused (%s)", self.desk, exc.message)
                    pause = self.retry_seconds * 12
                except (TelegramError, SQLAlchemyError, OSError) as exc:
                    # Nothing confirmed: what was fetched comes again in the next round.
                    log.warning("%s desk's bot: polling failed (%s)", self.desk, exc)
                    pause = self.retry_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
        finally:
            await asyncio.to_thread(self._release)

    def _release(self) -> None:
        try:
            self.lease.release()
        except SQLAlchemyError as exc:  # it runs out by itself
            log.warning("%s desk's bot: poll lease not released (%s)", self.desk, exc)


def pollers_from_config(
    config: Config, queue: InboundQueue, wake: Callable[[], None] = lambda: None
) -> list[TelegramPoller]:
    """A poller for each desk whose bot is in polling mode, at the configured Bot API (a
    desk in webhook mode has none: Telegram refuses getUpdates while a webhook is set)."""
    found = []
    for name, desk in config.desks.items():
        settings = desk.telegram
        if settings is None:
            continue
        if settings.mode != "polling":  # Telegram posts to the webhook (webhook.py)
            continue
        token = settings.token().strip()
        bot = make_bot(config, name)
        # The token's number is the bot's id: one lease per bot, never the secret part.
        lease_name = f"telegram-poll:{token.split(':')[0]}"
        lease = Lease(queue.sessions, lease_name, POLL_SECONDS + LEASE_MARGIN, clock=queue.clock)
        found.append(TelegramPoller(name, bot, queue, lease, wake))
    return found
