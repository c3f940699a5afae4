"""A queued Telegram update → the normalised ``InboundMessage`` (channel ``"telegram"``).

Parsed with python-telegram-bot's own ``Update.de_json``, so the fields are read as the
library reads them. The sender is the chat id as the Telegram sender addresses it; text or a
caption is the text; photos, documents and voice notes are attachments with the bytes the
Telegram processor fetched before decoding (``files.py``, carried in the item's in-memory
meta), or their metadata and the reason: the decoder itself makes no network calls.
Anything that is not a private chat message is refused to the quarantine with the reason:
the poller queues no such update, so one here is a bug or a tampered row worth a look.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from telegram import Message, Update

from triage_desk.intake.decoders import Decoders
from triage_desk.intake.errors import Deadline, Unparseable
from triage_desk.intake.message import Attachment, InboundMessage
from triage_desk.intake.queue import Arrival
from triage_desk.intake.telegram.commands import command_of
from triage_desk.intake.telegram.files import Fetched, fetched_of, file_refs
from triage_desk.intake.telegram.updates import private_message
from triage_desk.responders.telegram_ids import CHANNEL, message_key
from triage_desk.storage.chat_settings import chosen_language

SUBJECT_CHARS = 80  # a chat message has no subject: its first line, this long at most
# The app's language setting (an IETF tag such as "lv" or "ru-RU") → the desk's languages.
KNOWN_LANGUAGES = ("lv", "en", "ru")


def _update(item: Arrival) -> tuple[Update, dict[str, Any]]:
    try:
        data = json.loads(item.payload)
    except ValueError as exc:
        raise Unparseable(f"not a Telegram update (bad JSON: {exc})") from exc
    if not isinstance(data, dict) or private_message(data) is None:
        raise Unparseable("not a person's message in a private chat with the bot")
    try:
        return Update.de_json(data, None), data
    except (KeyError, TypeError, ValueError) as exc:
        raise Unparseable(f"not a Telegram update ({type(exc).__name__}: {exc})") from exc


def _subject(text: str, attachments: tuple[Attachment, ...]) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not line and attachments:
        line = ", ".join(a.filename for a in attachments)
    return line[:SUBJECT_CHARS]


NOT_FETCHED = "Telegram file not downloaded (metadata only)"


def attachments_of(
    message: Message, fetched: Mapping[str, Fetched] | None = None
) -> tuple[Attachment, ...]:
    """Photos (the largest size sent), documents and voice notes: with the bytes the
    processor fetched (``files.py``), else as metadata with the reason they are missing."""
    found = []
    for ref in file_refs(message):
        done = (fetched or {}).get(ref.file_id)
        data = done.data if done is not None and done.data is not None else None
        reason = None if data is not None else (done.dropped_reason if done else NOT_FETCHED)
        found.append(
            Attachment(
                filename=ref.filename,
                content_type=ref.content_type,
                data=data or b"",
                content_id=ref.file_id,  # Telegram's file id: what getFile needs
                dropped_reason=reason,
                size=len(data) if data is not None else ref.size or (done and done.size) or 0,
            )
        )
    return tuple(found)


def language_of(code: str | None) -> str | None:
    """The desk language of an app's ``language_code`` ("ru-RU" → "ru"), if it has it."""
    base = (code or "").split("-")[0].lower()
    return base if base in KNOWN_LANGUAGES else None


# (desk, chat) → the language chosen there with /lang, if any.
ChosenLanguage = Callable[[str, str], str | None]


class TelegramDecoder:
    """``reopen_days``: desk → its ``[desks.<desk>.telegram] reopen_days``; ``chosen``: the
    chat's /lang choice, which every reply to the message then uses."""

    def __init__(
        self, reopen_days: Mapping[str, int], chosen: ChosenLanguage | None = None
    ) -> None:
        self.reopen_days = dict(reopen_days)
        self.chosen = chosen

    def decode(self, item: Arrival, deadline: Deadline) -> InboundMessage:
        update, data = _update(item)
        message = update.message or update.edited_message  # an edit of a message never stored
        if message is None or message.chat is None:  # private_message checked: cannot be
            raise Unparseable("the update carries no message")
        user = message.from_user
        text = message.text or message.caption or ""
        continue_days = self.reopen_days.get(item.desk)
        command = command_of(data.get("message") or data["edited_message"])
        if command is not None and command.name == "new":
            text, continue_days = command.rest, None  # "/new <question>": a ticket of its own
        attachments = attachments_of(message, fetched_of(item))
        if not text.strip() and not attachments:
            raise Unparseable("a message with no text, caption, photo, document or voice")
        name = " ".join(p for p in (user.first_name, user.last_name) if p) if user else None
        return InboundMessage(
            channel=CHANNEL,
            external_id=message_key(message.chat.id, message.message_id),
            desk=item.desk,
            sender=str(message.chat.id),
            sender_name=name or None,
            subject=_subject(text, attachments),
            text=text,
            new_text=text,
            received_at=item.received_at,
            headers={"update_id": data.get("update_id")},
            raw=item.payload,
            attachments=attachments,
            sent_at=message.date,
            language_hint=language_of(user.language_code if user else None),
            language=self.chosen(item.desk, str(message.chat.id)) if self.chosen else None,
            continue_days=continue_days,
        )


def register(
    decoders: Decoders,
    reopen_days: Mapping[str, int],
    sessions: sessionmaker[Session] | None = None,
) -> None:
    """The Telegram decoder in ``decoders``, for the desks' ``reopen_days``; with
    ``sessions``, each message in the language its chat chose."""

    def chosen(desk: str, chat: str) -> str | None:
        assert sessions is not None
        with sessions() as session:
            return chosen_language(session, CHANNEL, desk, chat)

    decoders.register(CHANNEL, TelegramDecoder(reopen_days, chosen if sessions else None))
