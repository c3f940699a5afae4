"""The web form's and the phone's queued payloads → ``InboundMessage``.

Both become a message on the email channel from the address given: the requester is that
address's requester, rights (representative or not) are what mail from it would get,
and answers go by email. Where it came from stays on the message (``headers["Via"]``)
and on the queue row (its channel). The ids are made up by us (``own_id`` False): an
answer refers to none of them.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from triage_desk.addresses import is_email_address
from triage_desk.config import LANGUAGES
from triage_desk.intake.decoders import Decoders
from triage_desk.intake.errors import Deadline, Unparseable
from triage_desk.intake.message import Attachment, InboundMessage
from triage_desk.intake.queue import Arrival

WEB, PHONE = "web", "phone"
REPLY_CHANNEL = "email"
SUBJECT_CHARS = 120


def _payload(item: Arrival) -> dict[str, Any]:
    try:
        data = json.loads(item.payload)
    except ValueError as exc:
        raise Unparseable(f"not a {item.channel} submission: {exc}") from exc
    if not isinstance(data, dict):
        raise Unparseable(f"not a {item.channel} submission: {type(data).__name__}")
    address = str(data.get("address") or "").strip().lower()
    if not is_email_address(address):
        raise Unparseable(f"{item.channel} submission without a valid address")
    if not str(data.get("text") or "").strip():
        raise Unparseable(f"{item.channel} submission without text")
    if not item.external_id:
        raise Unparseable(f"{item.channel} submission without an id")
    return {**data, "address": address}


def _subject(data: dict[str, Any]) -> str:
    subject = " ".join(str(data.get("subject") or "").split())
    if subject:
        return subject[:SUBJECT_CHARS]
    return " ".join(str(data["text"]).split())[:80]


def _attachments(data: dict[str, Any]) -> tuple[Attachment, ...]:
    found = []
    for part in data.get("attachments") or ():
        try:
            body = base64.b64decode(part["data"], validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise Unparseable(f"a form attachment cannot be read: {exc}") from exc
        found.append(
            Attachment(
                filename=str(part.get("filename") or "attachment")[:200],
                content_type=str(part.get("content_type") or "application/octet-stream")[:100],
                data=body,
                size=len(body),
            )
        )
    return tuple(found)


def _message(item: Arrival, data: dict[str, Any], **rest: Any) -> InboundMessage:
    """What a form submission and a logged call have in common: mail from the address
    given, its text as both the whole and the new text, received when the row says."""
    text = str(data["text"])
    return InboundMessage(
        channel=REPLY_CHANNEL,
        external_id=item.external_id or "",
        desk=item.desk,
        sender=data["address"],
        sender_name=None,
        subject=_subject(data),
        text=text,
        new_text=text,
        received_at=item.received_at,
        own_id=False,
        **rest,
    )


class WebFormDecoder:
    """A form submission: subject, text, address, chosen language, attachments."""

    def decode(self, item: Arrival, deadline: Deadline) -> InboundMessage:
        data = _payload(item)
        language = data.get("language") if data.get("language") in LANGUAGES else None
        return _message(
            item,
            data,
            headers={"Via": "web form"},
            attachments=_attachments(data),
            language_hint=language,
            language=language,
        )


class PhoneDecoder:
    """A call staff logged: the caller's address, what was said, when (``received_at``)."""

    def decode(self, item: Arrival, deadline: Deadline) -> InboundMessage:
        data = _payload(item)
        return _message(
            item,
            data,
            headers={"Via": "phone", "Logged-By": str(data.get("staff") or "")[:120]},
            category=str(data["category"])[:64] if data.get("category") else None,
        )


def register(decoders: Decoders) -> None:
    decoders.register(WEB, WebFormDecoder())
    decoders.register(PHONE, PhoneDecoder())
