"""Webhook mode: Telegram POSTs each update to the desk's ``webhook_url``; we answer 200
only once it is committed to the inbound queue.

A desk in ``mode = "webhook"`` has no poller (Telegram refuses ``getUpdates`` while a
webhook is set). At start, ``register`` calls ``setWebhook`` with the URL, the desk's
``secret_token`` and the same ``allowed_updates`` as the poller (messages and their edits);
a failure there is logged and tried again, never fatal.

The route (``webhook_router``, served by ``web/server.py`` at the path of ``webhook_url``):

* a missing or wrong ``X-Telegram-Bot-Api-Secret-Token`` is refused with 403, compared in
  constant time, before the body is read;
* the body is bounded (``MAX_BODY_BYTES``; an update is a few kilobytes): over it, 413;
* the update is taken in as the poller takes it (``updates.arrival``), committed to the
  inbound queue, and only then answered 200; a database failure answers 503, so Telegram
  delivers it again later (a repeat is one message: its external id is chat + message);
* what the desk does not take in (group posts, member changes) is answered 200 and dropped,
  as the poller confirms it: Telegram would otherwise retry it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot
from telegram.error import TelegramError

from triage_desk.config import Config
from triage_desk.intake.http_body import bounded_body
from triage_desk.intake.queue import InboundQueue
from triage_desk.intake.telegram.links import make_bot
from triage_desk.intake.telegram.poller import ALLOWED_UPDATES
from triage_desk.intake.telegram.updates import arrival

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024  # an update is small; a file comes by getFile, never here
RETRY_SECONDS = 30.0  # between attempts to set the webhook


def webhook_path(url: str) -> str:
    """Where the route listens: the path of the public ``webhook_url`` (a proxy forwards
    it as it is)."""
    return urlsplit(url).path or "/"


def webhook_router(
    desk: str,
    path: str,
    secret: str,
    queue: InboundQueue,
    wake: Callable[[], None] = lambda: None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> APIRouter:
    """The route taking ``desk``'s updates at ``path``; ``wake`` is told after each commit."""
    router = APIRouter()
    expected = secret.encode()

    @router.post(path, include_in_schema=False)
    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not expected or not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        body = await bounded_body(request, max_body_bytes)
        if body is None:
            return Response(status_code=413)
        try:
            update: Any = json.loads(body)
        except ValueError:
            return Response(status_code=400)
        item = arrival(update, desk, queue.clock()) if isinstance(update, dict) else None
        if item is None:
            log.info("%s desk's bot: an update that is no private message ignored", desk)
            return Response(status_code=200)
        try:
            await asyncio.to_thread(queue.enqueue, [item])
        except SQLAlchemyError as exc:
            # Not committed: Telegram must deliver it again.
            log.warning("%s desk's bot: webhook update not queued (%s)", desk, type(exc).__name__)
            return Response(status_code=503)
        wake()
        return Response(status_code=200)

    return router


class WebhookDesk:
    """One desk's bot in webhook mode: its route and its ``setWebhook``."""

    def __init__(self, desk: str, bot: Bot, url: str, secret: str) -> None:
        self.desk = desk
        self.bot = bot
        self.url = url
        self.secret = secret

    def router(self, queue: InboundQueue, wake: Callable[[], None]) -> APIRouter:
        return webhook_router(self.desk, webhook_path(self.url), self.secret, queue, wake)

    async def register(
        self, stop: asyncio.Event | None = None, retry_seconds: float = RETRY_SECONDS
    ) -> bool:
        """``setWebhook`` until it succeeds (True) or ``stop`` is set (False)."""
        while True:
            try:
                await self.bot.set_webhook(
                    url=self.url,
                    secret_token=self.secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                    max_connections=10,
                )
            except TelegramError as exc:
                log.warning(
                    "%s desk's bot: setWebhook failed (%s); trying again in %.0f s",
                    self.desk,
                    exc.message,
                    retry_seconds,
                )
            else:
                log.info("%s desk's bot: Telegram posts its updates to %s", self.desk, self.url)
                return True
            if stop is None:
                await asyncio.sleep(retry_seconds)
                continue
            try:
                await asyncio.wait_for(stop.wait(), retry_seconds)
                return False
            except TimeoutError:
                pass


def webhooks_from_config(config: Config) -> list[WebhookDesk]:
    """Each desk whose bot is in webhook mode (its secret checked set by the config)."""
    found = []
    for name, desk in config.desks.items():
        settings = desk.telegram
        if settings is None or settings.mode != "webhook":
            continue
        assert settings.webhook_url is not None  # the config requires both in this mode
        secret = settings.secret_token() or ""
        found.append(WebhookDesk(name, make_bot(config, name), settings.webhook_url, secret))
    return found
