"""Deep links that link a chat to a known requester: ``https://t.me/<bot>?start=<token>``.

Telegram opens the chat with the bot and sends ``/start <token>`` when the person presses
Start; ``answers`` redeems it. The bot's username comes from the configuration, else from
Telegram's ``getMe``.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy.orm import Session
from telegram import Bot

from triage_desk.config import Config
from triage_desk.responders.chat_offer import deep_link
from triage_desk.responders.telegram_ids import CHANNEL
from triage_desk.storage.links import new_link_token

VALID = dt.timedelta(hours=24)  # long enough to open a mail; short enough to go stale


def make_bot(config: Config, desk: str) -> Bot:
    """The desk's bot at the configured Bot API server."""
    settings = config.desks[desk].telegram
    if settings is None:
        raise LookupError(f"desk {desk!r} has no [desks.{desk}.telegram] bot")
    base = config.telegram.api_base_url
    return Bot(settings.token().strip(), base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")


def bot_username(config: Config, desk: str) -> str:
    """The configured ``username``, else the one Telegram's ``getMe`` gives."""
    settings = config.desks[desk].telegram
    if settings is not None and settings.username:
        return settings.username.lstrip("@")
    bot = make_bot(config, desk)

    async def ask() -> str:
        async with bot:
            return (await bot.get_me()).username

    return asyncio.run(ask())


def new_deep_link(
    session: Session, username: str, address: str, now: dt.datetime, valid: dt.timedelta = VALID
) -> str:
    """A single-use link (in the caller's transaction) that links the chat that opens it to
    the requester known at ``address``; ``storage.links.UnknownAddress`` if none is."""
    return deep_link(username, new_link_token(session, address, CHANNEL, now, valid))
