"""The one normalised inbound message type, whatever channel it came through."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None  # without <>, for inline images referenced as cid:
    inline: bool = False
    # Why the bytes were not kept (over a limit); metadata is kept regardless.
    dropped_reason: str | None = None
    size: int = 0  # of the original payload, also when dropped


@dataclass(frozen=True)
class Bounce:
    """A delivery failure report about mail we (or someone) sent."""

    permanent: bool  # False: a delay or warning
    failed_addresses: tuple[str, ...]
    # The Message-ID(s) of the mail that bounced, from the DSN's attached original.
    original_message_ids: tuple[str, ...] = ()
    # The RFC 3463 status code ("5.1.1") when the report gives one: the only part of a
    # bounce's text staff are shown (the rest is whatever its sender wrote).
    status: str | None = None


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
    received_at: dt.datetime  # UTC-aware: when we received it
    recipients: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
    # Why this message must not be answered automatically (auto-reply, bounce, list...).
    no_reply_reason: str | None = None
    attachments: tuple[Attachment, ...] = ()
    bounce: Bounce | None = None
    sent_at: dt.datetime | None = None  # the sender's Date header, when it could be read
    # Every Authentication-Results header, top first: evidence for staff replies (the
    # pipeline reads only those of the deployment's trusted servers).
    authentication_results: tuple[str, ...] = ()
