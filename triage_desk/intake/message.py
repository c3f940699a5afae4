"""The one normalised inbound message type, whatever channel it came through."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # "email", "telegram", "web"
    external_id: str  # unique per channel: Message-ID, chat message id, form submission id
    desk: str
    sender: str  # lower-cased address or chat id
    sender_name: str | None
    subject: str
    text: str  # the full readable text
    new_text: str  # what the person wrote this time, without quotes and signature
    received_at: dt.datetime  # UTC-aware
    recipients: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
    # Why this message must not be answered automatically (auto-reply, bounce, list...).
    no_reply_reason: str | None = None
