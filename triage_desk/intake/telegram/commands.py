"""The bot's commands, as Telegram marks them: a ``bot_command`` entity at offset 0.

``/new <question>`` is a message that opens a new ticket (the decoder handles it). The ones
answered without a ticket (``ANSWERED``) never reach the intake steps: ``/start`` and
``/help`` greet and explain (``/start <token>`` links the chat), ``/status`` lists the
person's open tickets, a bare ``/new`` says how to use it, ``/lang`` chooses the language,
``/link`` links the chat by a mailed code (``link_by_email``), ``/unlink`` undoes a link.
Any other ``/word`` is ordinary text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from triage_desk.intake.telegram.updates import private_message

ANSWERED = frozenset({"start", "help", "status", "new", "lang", "link", "unlink"})


@dataclass(frozen=True)
class Command:
    name: str  # lower case, without the slash and any @botname
    rest: str  # the text after it, stripped


def command_of(message: dict[str, Any]) -> Command | None:
    """The command a message starts with, if Telegram marked one there."""
    text = message.get("text") or ""
    for entity in message.get("entities") or ():
        if entity.get("type") == "bot_command" and entity.get("offset") == 0:
            # Offsets count UTF-16 units; a command is ASCII, so they are characters here.
            word = text[: int(entity.get("length", 0))]
            name = word[1:].split("@", 1)[0].lower()
            return Command(name, text[len(word) :].strip())
    return None


def answered_command(payload: bytes) -> tuple[Command, dict[str, Any]] | None:
    """The command answered without a ticket in a queued update, with its message; None for
    anything else (a bare ``/new`` is answered, ``/new <question>`` is a message)."""
    try:
        update = json.loads(payload)
    except ValueError:
        return None  # the decoder quarantines it with the reason
    message = private_message(update) if isinstance(update, dict) else None
    command = command_of(message) if message else None
    if command is None or command.name not in ANSWERED or (command.name == "new" and command.rest):
        return None
    assert message is not None
    return command, message
