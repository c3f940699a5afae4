"""The mail an outbox item becomes: the email half of the outbound side.

An outbox item is channel-neutral (recipient, subject, text, and in ``headers`` its
threading: our own ``reference`` for it, the ``in_reply_to`` id it answers, the
conversation's ``references``, whether it is ``automatic``, the ``sender_name``). Only here
do these become mail headers: Message-ID, In-Reply-To, References and, on automatic mail,
the RFC 3834 marks that stop other robots from answering us. A chat sender makes its own.

The reference is recorded as the outbound message's external id, and it is the Message-ID
sent, so a bounce that names our mail is matched to it (``steps/record_bounces``).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from triage_desk.clock import system_clock
from triage_desk.storage.models import OutboxItem

_MAX_REFERENCES = 20  # the newest ids of a long conversation are enough to thread it
# Keys of items queued before the outbox was channel-neutral that are no mail headers.
_LEGACY_INTERNAL = {"From-Name"}


def threading_headers(
    reference: str, in_reply_to: str | None, references: list[str], automatic: bool
) -> dict[str, str]:
    """Threading plus, on automatic mail, the RFC 3834 marks.

    A reply a person wrote carries neither: RFC 3834 reserves ``Auto-Submitted`` for mail no
    person wrote, and a person's reply may rightly get an out-of-office notice back (staff
    learn the person is away). Loops stay impossible: that notice is marked automatic by its
    sender, and robot mail never gets an automatic answer from us.
    """
    headers = {"Message-ID": f"<{reference}>"}
    if automatic:
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
    if in_reply_to:
        headers["In-Reply-To"] = f"<{in_reply_to}>"
        chain = [*references, in_reply_to] if in_reply_to not in references else references
        headers["References"] = " ".join(f"<{ref}>" for ref in chain[-_MAX_REFERENCES:])
    return headers


def mail_headers(fields: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The sender's display name and the mail headers of an item's ``headers`` column."""
    if "reference" not in fields:  # queued before the outbox was neutral: mail headers
        extra = {k: v for k, v in fields.items() if k not in _LEGACY_INTERNAL}
        return fields.get("From-Name", ""), extra
    headers = threading_headers(
        fields["reference"],
        fields.get("in_reply_to"),
        list(fields.get("references") or ()),
        bool(fields.get("automatic", True)),
    )
    return fields.get("sender_name") or "", headers


def build_email(item: OutboxItem) -> EmailMessage:
    name, headers = mail_headers(item.headers or {})
    mail = EmailMessage()
    mail["From"] = formataddr((name, item.sender))
    mail["To"] = item.recipient
    mail["Subject"] = item.subject
    mail["Date"] = format_datetime(item.created_at or system_clock())
    for key, value in headers.items():
        if key not in mail:
            mail[key] = value
    mail.set_content(item.body_text)
    return mail
