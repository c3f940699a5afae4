"""RFC 822 bytes → ``InboundMessage``, with the stdlib ``email`` package (policy.default).

Never raises on bad charsets: a declared charset that cannot decode falls back to the
charsets our writers really use (UTF-8, Baltic windows-1257, Cyrillic), then Latin-1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from triage_desk.config import EmailConfig
from triage_desk.intake.errors import Deadline
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.quotes import split_new_text
from triage_desk.intake.robots import robot_reason

_FALLBACK_CHARSETS = ("utf-8", "windows-1257", "windows-1251", "koi8-r", "latin-1")
_MSGID = re.compile(r"<([^<>\s]+)>")
_TAGS = re.compile(r"<[^>]+>")
_BLOCKS = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", re.I)
_INVISIBLE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)


def parse_bytes(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def decode_part(part: EmailMessage) -> str:
    """The text of a MIME part; wrong or unknown charsets fall back instead of failing."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeDecodeError, AssertionError, ValueError):
        pass
    payload = part.get_payload(decode=True) or b""
    if not isinstance(payload, bytes):
        return str(payload)
    declared = part.get_content_charset()
    for charset in ((declared,) if declared else ()) + _FALLBACK_CHARSETS:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1", errors="replace")


def html_to_text(markup: str) -> str:
    markup = _INVISIBLE.sub(" ", markup)
    markup = _BLOCKS.sub("\n", markup)
    text = html.unescape(_TAGS.sub("", markup))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def body_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    text = decode_part(body)
    if body.get_content_type() == "text/html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").strip()


def message_ids(value: object) -> tuple[str, ...]:
    return tuple(_MSGID.findall(str(value or "")))


def external_id(message: EmailMessage, raw: bytes) -> str:
    """The Message-ID; when a mail has none, a fingerprint of the raw bytes stands in."""
    ids = message_ids(message.get("Message-ID"))
    if ids:
        return ids[0]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def safe_header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "")
    except (ValueError, TypeError, IndexError):  # a header policy.default cannot parse
        return ""


def inbound_from_email(
    raw: bytes,
    desk: str,
    received_at: dt.datetime | None = None,
    envelope_sender: str | None = None,
    envelope_recipients: tuple[str, ...] = (),
    rules: EmailConfig | None = None,
    deadline: Deadline | None = None,
) -> InboundMessage:
    message = parse_bytes(raw)
    name, address = parseaddr(safe_header(message, "From"))
    if not address and envelope_sender:
        address = envelope_sender
    text = body_text(message)
    recipients = tuple(
        a.lower()
        for _n, a in getaddresses(
            [safe_header(message, "To"), safe_header(message, "Cc")]
        )
        if a
    )
    headers = {
        key: safe_header(message, key)
        for key in dict.fromkeys(message.keys())
        if key.lower() not in ("received", "dkim-signature", "arc-seal", "arc-message-signature")
    }
    return InboundMessage(
        channel="email",
        external_id=external_id(message, raw),
        desk=desk,
        sender=address.strip().lower(),
        sender_name=name or None,
        subject=safe_header(message, "Subject").strip(),
        text=text,
        new_text=split_new_text(text),
        received_at=received_at or dt.datetime.now(dt.UTC),
        recipients=recipients or tuple(r.lower() for r in envelope_recipients),
        in_reply_to=(message_ids(message.get("In-Reply-To")) or (None,))[0],
        references=message_ids(message.get("References")),
        headers=headers,
        raw=raw,
        no_reply_reason=robot_reason(message, envelope_sender),
    )
