"""What of a Telegram update the desk takes in, and how it is queued.

Only a person's message in a private chat with the bot is a request, or their edit of one
(``edited_message``: ``edits.py`` updates the stored text). A press of one of the bot's
buttons and a group member's reply to one of the bot's own messages (the staff group's
reasons) are queued too, and handled without a ticket (``callbacks.py``). Anything else
(other group and channel posts, member changes) is confirmed to Telegram and not queued: a
bot added to a group must not turn every group message into a ticket, and quarantining them
would bury staff in noise. They are counted in the poller's log instead.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from triage_desk.intake.queue import Arrival
from triage_desk.responders.telegram_ids import CHANNEL, message_key


def private_message(update: dict[str, Any]) -> dict[str, Any] | None:
    """The update's message (new, or edited: ``is_edit``) when it is one in a private chat
    from a person, else None."""
    message = update.get("message")
    if message is None:
        message = update.get("edited_message")
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    sender = message.get("from")
    if not isinstance(chat, dict) or chat.get("type") != "private":
        return None
    if not isinstance(chat.get("id"), int) or not isinstance(message.get("message_id"), int):
        return None  # nothing to key it by (or answer): not a message Telegram sends
    if isinstance(sender, dict) and sender.get("is_bot"):
        return None
    return message


def is_edit(update: dict[str, Any]) -> bool:
    """Whether the update is a person's edit of an earlier message."""
    return "message" not in update and isinstance(update.get("edited_message"), dict)


def edit_key(message: dict[str, Any]) -> str:
    """An edit's own id: its message and Telegram's edit time (two edits differ in it)."""
    return f"{message_key(message['chat']['id'], message['message_id'])}:edit:" + str(
        message.get("edit_date")
    )


def callback_query(update: dict[str, Any]) -> dict[str, Any] | None:
    """A person's press of one of the bot's buttons, when it has the form Telegram gives
    one; what it may do is decided later (``callbacks.py``), never by the update alone."""
    query = update.get("callback_query")
    if not isinstance(query, dict) or not isinstance(query.get("id"), str):
        return None
    sender, message, data = query.get("from"), query.get("message"), query.get("data")
    if not isinstance(sender, dict) or sender.get("is_bot") or not isinstance(data, str):
        return None
    if len(data.encode()) > 64 or not isinstance(message, dict):  # Telegram's own bound
        return None
    if not isinstance(message.get("chat"), dict) or not isinstance(message.get("message_id"), int):
        return None
    return query


def group_reply(update: dict[str, Any]) -> dict[str, Any] | None:
    """A member's message in a group that answers one of the bot's own messages (a staff
    group's reason for a change of category); any other group message is not taken in."""
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
        return None
    if message["chat"].get("type") not in ("group", "supergroup"):
        return None
    sender, answered = message.get("from"), message.get("reply_to_message")
    if not isinstance(sender, dict) or sender.get("is_bot") or not isinstance(answered, dict):
        return None
    author = answered.get("from")
    if not isinstance(author, dict) or not author.get("is_bot"):
        return None
    return message if isinstance(message.get("text"), str) else None


def arrival(update: dict[str, Any], desk: str, received_at: dt.datetime) -> Arrival | None:
    """The queue row for ``update`` (its JSON as Telegram sent it), or None when the desk
    does not take it in (``private_message``, ``callback_query``, ``group_reply``)."""
    message = private_message(update) or group_reply(update)
    query = callback_query(update) if message is None else None
    if query is not None:
        return Arrival(
            CHANNEL,
            desk,
            json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode(),
            received_at,
            {"source": f"telegram:{desk}", "update_id": update.get("update_id")},
            f"callback:{query['id']}",  # a press delivered twice is one
        )
    if message is None:
        return None
    chat_id = message["chat"]["id"]
    # Chat and message: the same message delivered in two updates is still one; an edit is
    # named by its edit time too.
    key = edit_key(message) if is_edit(update) else message_key(chat_id, message["message_id"])
    return Arrival(
        CHANNEL,
        desk,
        json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode(),
        received_at,
        {"source": f"telegram:{desk}", "update_id": update.get("update_id")},
        key,
    )
