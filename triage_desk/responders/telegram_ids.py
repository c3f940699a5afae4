"""How a Telegram message is named in our records: ``"<chat id>:<message id>"``.

A message id is unique only within its chat, so the pair is the message's external id (the
same update twice makes one message) and what a reply threads under.
"""

from __future__ import annotations

CHANNEL = "telegram"


def message_key(chat_id: int | str, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def reply_target(chat: str, external_id: str | None) -> int | None:
    """The message id to reply to in ``chat``, if ``external_id`` names one of its messages."""
    if not external_id:
        return None
    named_chat, _, message_id = external_id.rpartition(":")
    if named_chat != chat or not message_id.isdigit():
        return None
    return int(message_id)
