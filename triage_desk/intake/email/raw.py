"""A mail as a listener received it, and as an inbound queue row.

What the SMTP and IMAP adapters need to queue mail, and no more: importing it costs nothing
of the parsing and triage behind the queue (``fetch --once`` reads its mailboxes in a child
that imports only this side, ``intake/email/fetch_child.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from triage_desk.intake.queue import Arrival

CHANNEL = "email"


@dataclass(frozen=True)
class RawMail:
    """One mail as a listener received it."""

    raw: bytes
    desk: str
    source: str
    received_at: dt.datetime
    envelope_sender: str | None = None
    envelope_recipients: tuple[str, ...] = ()


def arrival_of(mail: RawMail, external_id: str | None = None) -> Arrival:
    """``mail`` as a queue item; ``external_id``: the mailbox's id for it (IMAP)."""
    meta = {
        "source": mail.source,
        "envelope_sender": mail.envelope_sender,
        "recipients": list(mail.envelope_recipients),
    }
    return Arrival(CHANNEL, mail.desk, mail.raw, mail.received_at, meta, external_id)


def mail_of(item: Arrival) -> RawMail:
    meta = item.meta
    return RawMail(
        item.payload,
        item.desk,
        str(meta.get("source") or CHANNEL),
        item.received_at,
        meta.get("envelope_sender"),
        tuple(meta.get("recipients") or ()),
    )
