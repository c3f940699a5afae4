"""The one normalised inbound message type, whatever channel it came through.

Each channel's adapter (for email: ``intake/email/parse.py``) fills these fields; the
channel-neutral core (``intake/steps/``, ``intake/reply_policy.py``) reads only them, never a
header or any other channel detail.
"""

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
class Vouch:
    """A check of the sender that passed: ``authority`` (who checked: for email a mail
    server's authserv-id, for a chat the platform) vouches for ``identity`` (a mail domain,
    an account). The core believes only the authorities the deployment trusts."""

    authority: str
    identity: str


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
    # The external id of the message this one answers, and of the earlier messages of its
    # conversation, oldest first (email: In-Reply-To and References).
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
    # Why this message must not be answered automatically (auto-reply, bounce, list...).
    no_reply_reason: str | None = None
    attachments: tuple[Attachment, ...] = ()
    bounce: Bounce | None = None
    sent_at: dt.datetime | None = None  # the sender's Date header, when it could be read
    # Checks of the sender that passed (email: DKIM and SPF passes in Authentication-Results):
    # the evidence a staff member's reply needs (``reply_policy.Authors``).
    vouches: tuple[Vouch, ...] = ()
    # Whether ``external_id`` is the sender's own id for the message, one an answer can refer
    # to; False when the channel gave none and the adapter made one up (a fingerprint).
    own_id: bool = True
    # Whether an answer can reach ``sender`` (an email From that is only a word cannot).
    replyable: bool = True
    # The language to assume when the text is too short to tell (a chat app's setting, or
    # the one the person chose); None: the desk's default.
    language_hint: str | None = None
    # The language the person chose for our replies (a chat's /lang): wins over detection.
    language: str | None = None
    # A chat has no reply headers: its message continues the sender's latest ticket on the
    # desk that is not resolved, or was resolved at most this many days ago (reopening it).
    # None: only ``thread_refs`` and a ticket number thread it (email).
    continue_days: int | None = None
    # The category staff chose when they logged it (a phone call): the ticket's, confirmed,
    # whatever the model suggests (its suggestion is still stored as the model's).
    category: str | None = None

    @property
    def thread_refs(self) -> tuple[str, ...]:
        """The ids of earlier messages this one continues: the one it answers first."""
        return tuple(i for i in (self.in_reply_to, *self.references) if i)

    @property
    def is_robot(self) -> bool:
        """No person wrote it (an auto-reply, a list, a bounce): it is never answered."""
        return self.bounce is not None or self.no_reply_reason is not None
