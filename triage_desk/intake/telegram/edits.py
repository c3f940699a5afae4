"""A person's edit of a chat message (Telegram's ``edited_message``): the stored text updated,
and the text it replaced kept for staff.

An edit is no new request: it makes no ticket and no acknowledgement. It is applied in the
commit that takes its update off the queue (``processor.py``), as one ``message_edits`` row
(the text before and after, Telegram's edit time) beside the new text on the message, plus
an audit entry on the ticket. That row is keyed by the message and the edit time, so the
same edit delivered twice (a poller killed before confirming, a webhook retried) changes
nothing the second time; an older edit arriving after a newer one is recorded in the history
but does not overwrite the newer text.

An edit of a message we never stored (sent before the bot served the desk, or while it was
refused) is taken as a new message by the caller (``UNKNOWN``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage_desk.intake.telegram.commands import command_of
from triage_desk.responders.telegram_ids import CHANNEL, message_key
from triage_desk.storage.models import AuditEvent, Direction, MessageEdit, OutboxItem
from triage_desk.storage.models import Message as StoredMessage

MAX_TEXT_CHARS = 20_000  # Telegram allows 4,096 (text) or 1,024 (caption): more is not Telegram


class EditOutcome(StrEnum):
    APPLIED = "applied"
    REPEAT = "repeat"  # this edit is recorded already
    COMMAND = "command"  # an edit of a command we answered: nothing to change
    UNKNOWN = "unknown"  # no such message stored: the caller takes it as a new one


def edit_time(message: dict[str, Any], received_at: dt.datetime) -> dt.datetime:
    """Telegram's ``edit_date`` (Unix seconds) in UTC; when it is missing or absurd, when we
    received the edit."""
    stamp = message.get("edit_date")
    if isinstance(stamp, int) and 0 < stamp < 2**40:
        return dt.datetime.fromtimestamp(stamp, dt.UTC)
    return received_at


def edited_text(message: dict[str, Any]) -> str:
    """The message's text after the edit (a caption for a file; ``/new``'s question)."""
    text = message.get("text") or message.get("caption") or ""
    if not isinstance(text, str):
        return ""
    command = command_of(message)
    if command is not None and command.name == "new" and command.rest:
        text = command.rest
    return text[:MAX_TEXT_CHARS]


def apply_edit(
    session: Session, message: dict[str, Any], received_at: dt.datetime, now: dt.datetime
) -> EditOutcome:
    """Apply the edited ``message`` (an ``edited_message`` as Telegram sent it) in the
    caller's transaction."""
    chat = message["chat"]["id"]
    key = message_key(chat, message["message_id"])
    stored = session.scalar(
        select(StoredMessage).where(
            StoredMessage.channel == CHANNEL,
            StoredMessage.direction == Direction.INBOUND,
            StoredMessage.external_id == key,
        )
    )
    if stored is None:
        answered = session.scalar(
            select(OutboxItem.id).where(OutboxItem.dedupe_key == f"telegram-command:{key}")
        )
        return EditOutcome.UNKNOWN if answered is None else EditOutcome.COMMAND
    edited_at = edit_time(message, received_at)
    known = session.scalar(
        select(MessageEdit.id).where(
            MessageEdit.message_id == stored.id, MessageEdit.edited_at == edited_at
        )
    )
    if known is not None:
        return EditOutcome.REPEAT
    latest = session.scalar(
        select(func.max(MessageEdit.edited_at)).where(MessageEdit.message_id == stored.id)
    )
    text = edited_text(message)
    newest = latest is None or edited_at > latest
    # What it replaced: the stored text, unless a newer edit is there already (then this
    # older one's own "before" is unknown to us; the history shows the order by edit time).
    session.add(
        MessageEdit(
            message_id=stored.id,
            edited_at=edited_at,
            received_at=received_at,
            text_before=stored.text if newest else "",
            text_after=text,
        )
    )
    if newest:
        stored.text = text
        stored.new_text = text
    session.add(
        AuditEvent(
            at=now,
            actor="system",
            action="message_edited",
            ticket_id=stored.ticket_id,
            details={
                "message_id": stored.id,
                "external_id": key,
                "edited_at": edited_at.isoformat(),
                "applied": newest,
            },
        )
    )
    session.flush()  # a second delivery racing this one fails here, not at the commit
    return EditOutcome.APPLIED
