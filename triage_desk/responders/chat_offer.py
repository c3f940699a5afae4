"""An email acknowledgement's offer to continue in Telegram: a one-time deep link
``https://t.me/<bot>?start=<token>`` that links the chat opening it to the requester the
acknowledgement is mailed to (``storage.links``: random, single use, expiring, stored as
its sha256).

Only for a desk whose bot has ``offer_link_in_email = true`` (and a ``username``), only in
an acknowledgement to an email sender, and only while no chat is linked to that requester.
The link goes to the address the requester is known at, the same one the acknowledgement
goes to, so it reaches no one who could not read the acknowledgement anyway. Our copy of
the reply in the ticket's thread shows the link without its token: staff never hold a
live one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.desks import Desk
from triage_desk.storage.links import requester_link_token
from triage_desk.storage.models import RequesterAddress

CHAT_CHANNEL = "telegram"
VALID = dt.timedelta(days=7)  # an acknowledgement may be read days later
REDACTED = "…"


def deep_link(username: str, token: str) -> str:
    return f"https://t.me/{username}?start={token}"


def offering_bot(desk: Desk, channel: str) -> str | None:
    """The bot's username when a reply on ``channel`` from ``desk`` offers a link."""
    settings = desk.config.telegram
    if channel != "email" or settings is None or not settings.offer_link_in_email:
        return None
    return (settings.username or "").lstrip("@") or None


def linked_to_chat(session: Session, requester_ids: set[int]) -> set[int]:
    """Which of the requesters have a chat linked already (one query for a batch)."""
    if not requester_ids:
        return set()
    return set(
        session.scalars(
            select(RequesterAddress.requester_id).where(
                RequesterAddress.requester_id.in_(requester_ids),
                RequesterAddress.channel == CHAT_CHANNEL,
            )
        )
    )


def chat_offer(
    session: Session, username: str, requester_id: int, address: str, now: dt.datetime
) -> tuple[dict[str, object], str]:
    """The template's ``chat_link`` and ``chat_link_days``, and the token (to redact)."""
    token = requester_link_token(session, requester_id, address, CHAT_CHANNEL, now, VALID)
    return {"chat_link": deep_link(username, token), "chat_link_days": VALID.days}, token
