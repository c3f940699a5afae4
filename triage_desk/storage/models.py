"""The database schema as typed SQLAlchemy 2.0 ORM classes.

Instants are stored in UTC (see ``UTCDateTime``) and shown in the desk's zone by the layers
above. Raw inbound bytes are kept next to the normalised text so nothing is ever lost.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from triage_desk.clock import system_clock

# Not SQLAlchemy's own: these make every value storable (no NUL, no lone surrogate, cut to
# the column's length), so text from a mail can never make a write fail (storage/values.py).
from triage_desk.storage.values import String, Text, storable_json


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no time zones, so values are stored as naive UTC there and made aware again on
    the way out; PostgreSQL keeps ``timestamptz``. A naive value given to us is a bug upstream.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; use UTC-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class JSONType(TypeDecorator[Any]):
    """JSON, stored as JSONB on PostgreSQL.

    The PostgreSQL dialect is imported only when a PostgreSQL engine asks for it. Importing it
    pulls in every driver's dialect (asyncpg, pg8000, …), a noticeable part of each start-up
    (bench/README.md), which a ``with_variant(JSONB())`` at import time would cost SQLite
    users too.
    """

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return storable_json(value)

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
    }


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class TicketStatus(StrEnum):
    QUEUED = "queued"  # arrived out of hours; released into the work queue at the next opening
    OPEN = "open"  # in the work queue, waiting for staff
    REFUSED = "refused"  # submitter may not submit this category (terms clause 28)
    ANSWERED = "answered"  # staff replied
    RESOLVED = "resolved"
    # Automatic mail (auto-replies, mailing lists, bulk mail, bounces) that opened a ticket:
    # kept, but apart from the work queue, with no due times.
    ROBOT = "robot"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # gave up after the configured number of attempts
    SUPPRESSED = "suppressed"  # never to be sent (e.g. the recipient is a robot)


class Client(Base):
    """An organisation requesters belong to (a municipality, an institution)."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    desk: Mapped[str] = mapped_column(String(64))
    domains: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)

    memberships: Mapped[list[Membership]] = relationship(back_populates="client")


class Requester(Base):
    """A person who writes to support, reachable at one or more addresses or chat ids."""

    __tablename__ = "requesters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)

    addresses: Mapped[list[RequesterAddress]] = relationship(back_populates="requester")
    memberships: Mapped[list[Membership]] = relationship(back_populates="requester")


class RequesterAddress(Base):
    __tablename__ = "requester_addresses"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))  # "email", "telegram", "web"
    address: Mapped[str] = mapped_column(String(320))  # lower-cased email or chat id
    undeliverable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Our words, never the bounce's: status code, ticket, when (``triage address list``).
    undeliverable_reason: Mapped[str | None] = mapped_column(Text)
    undeliverable_at: Mapped[dt.datetime | None]

    requester: Mapped[Requester] = relationship(back_populates="addresses")


class Membership(Base):
    """A requester belongs to a client; designated representatives may submit more (cl. 28)."""

    __tablename__ = "memberships"

    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    is_representative: Mapped[bool] = mapped_column(Boolean, default=False)
    # The name others are told (a refusal names the representatives): from configuration or
    # an import by staff, never from a mail's From header.
    display_name: Mapped[str | None] = mapped_column(String(300))

    requester: Mapped[Requester] = relationship(back_populates="memberships")
    client: Mapped[Client] = relationship(back_populates="memberships")


class TicketCounter(Base):
    """The last ticket number per desk and year, for numbers like MUN-2026-000123."""

    __tablename__ = "ticket_counters"

    desk: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_desk_status", "desk", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    desk: Mapped[str] = mapped_column(String(64))
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    channel: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN)
    category: Mapped[str] = mapped_column(String(64))
    feedback_type: Mapped[str] = mapped_column(String(64), default="none")
    category_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime]
    clock_start: Mapped[dt.datetime]
    response_due: Mapped[dt.datetime | None]
    resolution_due: Mapped[dt.datetime | None]
    first_response_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)
    updated_at: Mapped[dt.datetime] = mapped_column(default=system_clock, onupdate=system_clock)
    assignee: Mapped[str | None] = mapped_column(String(120))  # a console user's login

    requester: Mapped[Requester] = relationship()
    client: Mapped[Client | None] = relationship()
    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id")
    suggestions: Mapped[list[Suggestion]] = relationship(
        back_populates="ticket", order_by="Suggestion.id"
    )
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="ticket", order_by="Decision.id"
    )


class Message(Base):
    """One inbound or outbound message. The same channel + external id is stored once."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel", "direction", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(4))
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(512))  # Message-ID, chat message id, ...
    in_reply_to: Mapped[str | None] = mapped_column(String(512))
    references: Mapped[list[str]] = mapped_column(default=list)
    sender: Mapped[str] = mapped_column(String(320))
    sender_name: Mapped[str | None] = mapped_column(String(300))
    recipients: Mapped[list[str]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")  # the full normalised text
    new_text: Mapped[str] = mapped_column(Text, default="")  # without quotes and signature
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    language: Mapped[str | None] = mapped_column(String(8))
    received_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)
    # sha256 of what makes an inbound mail the same mail (sender, subject, text, attachments):
    # a second, different mail under a known Message-ID is told apart from a redelivery.
    content_digest: Mapped[str | None] = mapped_column(String(64))

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    attachments: Mapped[list[StoredAttachment]] = relationship(order_by="StoredAttachment.id")
    # "person" for the requester, "staff" for a staff member writing from their own client,
    # "robot" for auto-replies and bounces, "desk" for what we sent.
    author_kind: Mapped[str] = mapped_column(String(16), default="person", server_default="person")


class MessageReference(Base):
    """A Message-ID that an inbound message names in In-Reply-To or References.

    Threading normally looks backwards: a reply finds the ticket of the mail it names. When
    the reply is stored first (its original was delayed, or came in a parallel SMTP session),
    the original looks forwards here instead: it joins the ticket of a stored message that
    names it, rather than opening a second ticket for the same conversation.
    """

    __tablename__ = "message_references"
    __table_args__ = (Index("ix_message_references_lookup", "channel", "referenced_id"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    referenced_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))


class Suggestion(Base):
    """What the classifier proposed for a message, with its confidence and model version."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    category: Mapped[str] = mapped_column(String(64))
    category_confidence: Mapped[float]
    feedback_type: Mapped[str] = mapped_column(String(64))
    feedback_confidence: Mapped[float]
    confidence: Mapped[float]
    auto_accept: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str] = mapped_column(String(64))
    # "fast" (n-gram stage alone) or "semantic" (the embedding stage was asked too)
    stage: Mapped[str] = mapped_column(String(16), default="fast", server_default="fast")
    # The fast stage was unsure and the semantic stage is still to be asked (deferred mode).
    needs_refinement: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), index=True
    )
    # A refiner's claim: no other refiner takes the suggestion before this instant (a
    # refiner that died leaves it to be taken again then).
    refining_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)

    ticket: Mapped[Ticket] = relationship(back_populates="suggestions")
    message: Mapped[Message] = relationship()


class Decision(Base):
    """What staff confirmed or changed: from, to, who and why (terms clause 33)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))  # "category" or "feedback_type"
    from_value: Mapped[str] = mapped_column(String(64))
    to_value: Mapped[str] = mapped_column(String(64))
    staff: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)

    ticket: Mapped[Ticket] = relationship(back_populates="decisions")


class OutboxItem(Base):
    """A message to send, written in the same transaction as the change that caused it.

    ``dedupe_key`` makes "one acknowledgement per inbound message" a database fact, so a
    replayed intake can never queue a second one.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        # The per-sender limit counts by recipient_key, the desk-wide limits by sender.
        Index("ix_outbox_recipient_key_created", "recipient_key", "created_at"),
        Index("ix_outbox_sender_created", "sender", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # "acknowledgement", "reply", ...
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    channel: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    # The recipient as the per-sender limit counts it: a plus-address as its base address.
    recipient_key: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text)
    # Channel-neutral threading (reference, in_reply_to, references, automatic, sender_name);
    # each channel's sender makes its own of it (responders/email_sender.py). Items queued
    # before that hold mail headers, which the email sender still sends as they are.
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=system_clock)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)
    # Set when a dispatcher takes the item to send it, cleared when the outcome is recorded:
    # still set at the next claim means that attempt's outcome is unknown (the process died,
    # or the database refused the record), and it counts in ``unconfirmed_sends``.
    claimed_at: Mapped[dt.datetime | None]
    unconfirmed_sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What a chat channel delivered of the item, written as each part is sent (a long text
    # goes as several messages): the id the channel gave each part, None for a part whose
    # outcome never came back. A retry sends only the parts after the last known id.
    delivered_parts: Mapped[list[Any]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'")
    )
    # Attempts the channel refused for rate (Telegram's 429 with retry_after): retried when
    # it says, and not counted against outbound.max_attempts.
    throttled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    ticket: Mapped[Ticket | None] = relationship()
    message: Mapped[Message | None] = relationship()


class AuditEvent(Base):
    """Who did what to which ticket, append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=system_clock, index=True)
    actor: Mapped[str] = mapped_column(String(120))  # "system", "classifier", staff login
    action: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StoredAttachment(Base):
    """A file that came with an inbound message; metadata is kept even when bytes are not."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    content_id: Mapped[str | None] = mapped_column(String(500))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    dropped_reason: Mapped[str | None] = mapped_column(Text)


class QuarantineStatus(StrEnum):
    HELD = "held"
    RELEASED = "released"  # a retry processed it into a ticket
    DISCARDED = "discarded"  # staff gave up on it; the raw mail is kept (who, when, why)


class QuarantinedMail(Base):
    """Mail we could not process: kept raw with the reason, never dropped."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(300))  # "smtp", "imap:<mailbox>/<folder>"
    desk: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(512))
    envelope_sender: Mapped[str | None] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(64))  # "unparseable", "limit", "timeout", ...
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=QuarantineStatus.HELD)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[dt.datetime] = mapped_column(default=system_clock)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=system_clock, onupdate=system_clock)
    discarded_by: Mapped[str | None] = mapped_column(String(120))
    discarded_at: Mapped[dt.datetime | None]
    discard_reason: Mapped[str | None] = mapped_column(Text)


class QueuedInbound(Base):
    """An inbound item a channel accepted (its sender was told so) and intake has not stored yet.

    Every adapter commits here and only then confirms (SMTP 250, IMAP flag, a chat offset);
    the queue runner turns the rows into tickets in batches and deletes each in the commit
    that stores it. A crash in between leaves the row, and the next run processes it
    (deduplication makes that safe).
    """

    __tablename__ = "inbound_queue"
    # Ids never reused (SQLite would reuse a deleted row's otherwise): a 250's "queued as"
    # names one mail for good.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - read by SQLAlchemy

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    desk: Mapped[str] = mapped_column(String(64))
    # The channel's own id for the item (IMAP "mailbox/folder/uidvalidity/uid"), if it has one.
    external_id: Mapped[str | None] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # What the channel's decoder needs besides the payload (envelope, source, ...).
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(default=system_clock)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed storing attempts
    # Times its processing began, counted (and committed) before the work: a start that
    # ended in neither a stored item nor a recorded attempt is one the process died in.
    starts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=system_clock, index=True)


class ImapCheckpoint(Base):
    """How far a mailbox folder has been read: UIDVALIDITY and the last committed UID."""

    __tablename__ = "imap_checkpoints"

    mailbox: Mapped[str] = mapped_column(String(120), primary_key=True)
    folder: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=system_clock, onupdate=system_clock)


class Lease(Base):
    """Who does a job only one process may do (a bot's poller: Telegram answers a second
    getUpdates with 409), until when. A holder renews it; a dead holder's runs out."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)  # "telegram-poll:<bot id>"
    holder: Mapped[str] = mapped_column(String(200))  # host, process and a random part
    expires_at: Mapped[dt.datetime]


class AssistantAnswer(Base):
    """A question the virtual assistant answered in chat, and whether the person said it helped."""

    __tablename__ = "assistant_answers"
    __table_args__ = (Index("ix_assistant_answers_asker", "channel", "asker", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    desk: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    asker: Mapped[str] = mapped_column(String(320))  # chat id or address
    language: Mapped[str] = mapped_column(String(8))
    question: Mapped[str] = mapped_column(Text)
    article_slug: Mapped[str | None] = mapped_column(String(200))  # None: it declined
    score: Mapped[float | None]
    helped: Mapped[bool | None] = mapped_column(Boolean)  # None until the person answers
    created_at: Mapped[dt.datetime] = mapped_column(default=system_clock)
    feedback_at: Mapped[dt.datetime | None]
    # The inbound message it answers (intake's answers; None for older rows).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # The random key its "Did this help?" buttons carry (callback_data): a press is looked
    # up by it and checked against the chat it was sent to, never trusted alone.
    callback_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    feedback_via: Mapped[str | None] = mapped_column(String(16))  # "button" or "text"


class ChatSetting(Base):
    """What a person chose in a chat with a desk (``/lang``): the language of every later
    reply there, whatever the language of their messages."""

    __tablename__ = "chat_settings"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    desk: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat: Mapped[str] = mapped_column(String(320), primary_key=True)  # the chat's address
    language: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[dt.datetime]


class LinkToken(Base):
    """A one-time proof that a chat belongs to the requester of a known address. Only its
    sha256 is kept: the token itself is a random secret handed to the person once."""

    __tablename__ = "link_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    address: Mapped[str] = mapped_column(String(320))  # the address it was made for
    channel: Mapped[str] = mapped_column(String(32))  # the channel of the chat it may link
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(320))  # the chat that used it


class LinkCode(Base):
    """A request of a chat's ``/link <email>``: a short code mailed to the address if a
    requester is known there (``requester_id``), nothing otherwise. Every request is kept
    for a while, known address or not, so the rate limits count them alike and their
    answer cannot tell who is a customer. The code is kept salted and hashed only."""

    __tablename__ = "link_codes"
    __table_args__ = (
        Index("ix_link_codes_chat", "channel", "chat", "created_at"),
        Index("ix_link_codes_address", "address", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat: Mapped[str] = mapped_column(String(320))  # the chat that asked: the one it links
    address: Mapped[str] = mapped_column(String(320))  # the email address asked for
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("requesters.id"))
    salt: Mapped[str | None] = mapped_column(String(32))
    code_hash: Mapped[str | None] = mapped_column(String(64))  # None: no code was sent
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # wrong codes
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class MessageEdit(Base):
    """A person's edit of a message we stored (a Telegram ``edited_message``): the text it
    had before, so staff see what was there when they read it. ``edited_at`` is the
    channel's own edit time; one row per (message, edit time), so an edit delivered twice is
    recorded once."""

    __tablename__ = "message_edits"
    __table_args__ = (UniqueConstraint("message_id", "edited_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    edited_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    text_before: Mapped[str] = mapped_column(Text, default="")
    text_after: Mapped[str] = mapped_column(Text, default="")


class StaffPost(Base):
    """A new ticket as posted to its desk's Telegram staff group, with buttons to confirm the
    suggested category or choose another. ``key`` is what the buttons carry (random); a
    press is looked up by it, and only the group and the staff configured may act on it."""

    __tablename__ = "staff_posts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    desk: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    chat: Mapped[str] = mapped_column(String(32))  # the staff group's chat id
    suggested: Mapped[str] = mapped_column(String(64))  # the category it offered to confirm
    created_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))  # "telegram:<user id>"
    decision: Mapped[str | None] = mapped_column(String(16))  # "confirmed" or "changed"


class StaffChoice(Base):
    """Another category chosen in the staff group, waiting for its reason (the member's
    reply to the bot's question), which the recategorisation notice tells the person."""

    __tablename__ = "staff_choices"
    __table_args__ = (Index("ix_staff_choices_user", "chat", "user_id", "asked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("staff_posts.id"))
    chat: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]


class StaffUser(Base):
    """A console user: argon2 password hash (never the password), role, interface language."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))  # agent, supervisor, admin
    language: Mapped[str] = mapped_column(String(8), default="lv")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]


class ConsoleSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's random id is stored, so a copy
    of the database does not sign anyone in."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]

    user: Mapped[StaffUser] = relationship()


class TicketNote(Base):
    """An internal note on a ticket: staff only, never sent to the requester."""

    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class Notice(Base):
    """A notice of a planned change to the designated representatives of some clients
    (terms clause 23). ``key`` makes sending it idempotent: the same form or command
    posted twice finds the notice it made the first time."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    desk: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    change_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime]

    clients: Mapped[list[NoticeClient]] = relationship(order_by="NoticeClient.client_id")
    recipients: Mapped[list[NoticeRecipient]] = relationship(order_by="NoticeRecipient.id")


class NoticeClient(Base):
    __tablename__ = "notice_clients"

    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)

    client: Mapped[Client] = relationship()


class NoticeRecipient(Base):
    """One representative's address a notice went to, with its outbox item (whose status
    is the delivery state)."""

    __tablename__ = "notice_recipients"
    __table_args__ = (UniqueConstraint("notice_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    client: Mapped[Client] = relationship()
    outbox_item: Mapped[OutboxItem | None] = relationship()


class SlaLeg(Base):
    """One service-level leg of a ticket: its response or its resolution, in one round.

    Written by ``storage/sla_legs.py`` whenever the ticket's due times or completion change,
    so a report is a plain query and a late leg stays late once it is met. A reopened
    ticket starts a new round; the earlier round's legs are kept as they ended.
    """

    __tablename__ = "sla_legs"
    __table_args__ = (
        UniqueConstraint("ticket_id", "leg", "round"),
        Index("ix_sla_legs_unmet", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    leg: Mapped[str] = mapped_column(String(16))  # "response" or "resolution" (sla.Leg)
    round: Mapped[int] = mapped_column(Integer, default=1)  # 1, then one more per reopening
    category: Mapped[str] = mapped_column(String(64))  # whose target set due_at
    due_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]
    # The due time, once the leg is known late (met late, or found unmet after it).
    breached_at: Mapped[dt.datetime | None]
    late_seconds: Mapped[int | None] = mapped_column(BigInteger)  # done_at - due_at, if late
    updated_at: Mapped[dt.datetime]


class WebFormKey(Base):
    """The public form's signing key (form tokens, status links): made once, at the first
    start that needs it, so a deployment has nothing to configure and links outlive restarts."""

    __tablename__ = "web_form_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime]


class KbSuggestionEvent(Base):
    """One knowledge-base article offered to a person typing in the public form ("offer"),
    or opened from there ("click"): a row each, so a report counts any period."""

    __tablename__ = "kb_suggestion_events"
    __table_args__ = (Index("ix_kb_suggestion_events_desk_at", "desk", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    desk: Mapped[str] = mapped_column(String(64))
    slug: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))  # "offer" or "click"
    at: Mapped[dt.datetime]


class ApiToken(Base):
    """A bearer token of the JSON API (``console/api.py``): it acts as its user, with the
    user's role. Only the SHA-256 of the token is kept: the token is 32 random bytes, so no
    guessing can find it from its hash and a slow password hash would add nothing."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]

    user: Mapped[StaffUser] = relationship()
