"""Outgoing webhooks: a ticket created, decided (category confirmed or changed) or resolved
is POSTed as JSON to each configured receiver (``[[webhooks]]`` in the configuration).

An event is an outbox item of channel ``"webhook"``, written in the transaction of the change
it reports (the intake's commit for a new ticket, the desk service action's for a decision or
a resolution), so an event is sent if and only if its change was committed. The dispatcher
sends it with the outbox's retries, backoff and dead letters (``WebhookSender``).

Each request carries:

* ``X-Triage-Event-Id``: the event's id, also ``id`` in the body. A crash after the receiver
  answered but before the outcome was recorded sends the event once more: the receiver drops
  an id it has seen.
* ``X-Triage-Signature: t=<unix seconds>,v1=<hex>``: HMAC-SHA256 with the webhook's secret
  over ``"<t>." + body`` (the body's exact bytes). A receiver recomputes it, compares in
  constant time, and refuses a ``t`` far from its own clock (a replayed request).

The body holds the ticket's number, desk, status, category, feedback type and due times, and
for a decision its field, old and new value, staff member and reason; never a message's text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from triage_desk.clock import Clock, system_clock
from triage_desk.config import Config, WebhookConfig
from triage_desk.responders.transports import TransportError
from triage_desk.storage.models import OutboxItem, OutboxStatus, Ticket

if TYPE_CHECKING:
    import httpx

CHANNEL = "webhook"
CREATED, DECIDED, RESOLVED = "ticket.created", "ticket.decided", "ticket.resolved"
SIGNATURE_HEADER = "X-Triage-Signature"
EVENT_ID_HEADER = "X-Triage-Event-Id"
EVENT_HEADER = "X-Triage-Event"
MAX_RESPONSE_BYTES = 4096  # of a receiver's answer we read (into last_error); the rest is left


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Triage-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes) -> int | None:
    """The signed timestamp when ``header`` signs ``body`` with ``secret``, else None (what
    a receiver does; the tests use it)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return None
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return timestamp if hmac.compare_digest(expected, fields.get("v1", "")) else None


def _iso(instant: dt.datetime | None) -> str | None:
    return instant.astimezone(dt.UTC).isoformat(timespec="seconds") if instant else None


def ticket_fields(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "desk": ticket.desk,
        "status": str(ticket.status),
        "category": ticket.category,
        "feedback_type": ticket.feedback_type,
        "channel": ticket.channel,
        "received_at": _iso(ticket.received_at),
        "response_due": _iso(ticket.response_due),
        "resolution_due": _iso(ticket.resolution_due),
    }


@dataclass(frozen=True)
class Webhooks:
    """The configured receivers; ``enqueue`` writes an event for each that wants it."""

    hooks: Sequence[WebhookConfig] = ()

    @classmethod
    def from_config(cls, config: Config) -> Webhooks:
        return cls(tuple(config.webhooks))

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def enqueue(
        self,
        session: Session,
        event: str,
        ticket: Ticket,
        now: dt.datetime,
        **details: Any,
    ) -> list[str]:
        """Queue ``event`` about ``ticket`` in ``session``'s transaction; the event ids."""
        ids: list[str] = []
        for hook in self.hooks:
            if event not in hook.events or (hook.desks and ticket.desk not in hook.desks):
                continue
            if ticket.id is None:
                session.flush()
            event_id = str(uuid.uuid4())
            body = {
                "id": event_id,
                "event": event,
                "occurred_at": _iso(now),
                "ticket": ticket_fields(ticket),
                **({"details": details} if details else {}),
            }
            session.add(
                OutboxItem(
                    dedupe_key=f"webhook:{hook.name}:{event_id}",
                    kind="webhook",
                    ticket_id=ticket.id,
                    channel=CHANNEL,
                    # Not a desk's address: the desk-wide reply limits never count events.
                    sender=f"webhook:{hook.name}",
                    recipient=hook.url,
                    recipient_key=None,
                    subject=event,
                    body_text=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    headers={"webhook": hook.name, "event_id": event_id, "event": event},
                    status=OutboxStatus.PENDING,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            ids.append(event_id)
        return ids


class WebhookSender:
    """The outbox's sender for channel ``"webhook"``: one signed POST per item. A 2xx answer
    is delivered; anything else (a redirect too: never followed) or no answer in time is a
    ``TransportError`` the dispatcher retries with backoff, until ``outbound.max_attempts``
    make the item dead."""

    def __init__(
        self,
        hooks: Mapping[str, WebhookConfig],
        clock: Clock = system_clock,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.hooks = dict(hooks)
        self.clock = clock
        self.transport = transport

    @classmethod
    def from_config(cls, config: Config, clock: Clock = system_clock) -> WebhookSender:
        return cls({hook.name: hook for hook in config.webhooks}, clock)

    def send(self, item: OutboxItem) -> None:
        import httpx  # here: every command imports this module, few send webhooks

        name = str(item.headers.get("webhook", ""))
        hook = self.hooks.get(name)
        if hook is None:
            raise TransportError(f"webhook {name!r} is no longer configured", permanent=True)
        body = item.body_text.encode("utf-8")
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "triage-desk-webhook",
            EVENT_HEADER: str(item.headers.get("event", "")),
            EVENT_ID_HEADER: str(item.headers.get("event_id", "")),
            SIGNATURE_HEADER: sign(hook.secret(), timestamp, body),
        }
        try:
            with (
                httpx.Client(
                    follow_redirects=False,
                    timeout=hook.timeout_seconds,
                    transport=self.transport,
                    trust_env=False,  # no proxy from the environment sees the events
                ) as client,
                client.stream("POST", item.recipient, content=body, headers=headers) as answer,
            ):
                status = answer.status_code
                if 200 <= status < 300:
                    return
                start = _read_bounded(answer)
        except httpx.HTTPError as exc:
            raise TransportError(f"webhook {name}: {type(exc).__name__}: {exc}") from exc
        raise TransportError(f"webhook {name}: answered {status}: {start!r}")


def _read_bounded(answer: httpx.Response) -> str:
    """At most ``MAX_RESPONSE_BYTES`` of the answer, for the error; the rest is not read."""
    kept = b""
    for chunk in answer.iter_raw():
        kept += chunk
        if len(kept) >= MAX_RESPONSE_BYTES:
            break
    return kept[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")[:300]


__all__ = [
    "CHANNEL",
    "CREATED",
    "DECIDED",
    "EVENT_ID_HEADER",
    "RESOLVED",
    "SIGNATURE_HEADER",
    "WebhookSender",
    "Webhooks",
    "sign",
    "verify",
]
