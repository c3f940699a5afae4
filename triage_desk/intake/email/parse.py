"""RFC 822 bytes → ``InboundMessage``, with the stdlib ``email`` package (policy.default).

The steps, each in its own module: ``headers`` (decoded header values), ``mime`` (text and
attachments; ``charsets``, ``html_text`` and ``forwarded`` under it), ``bounces`` (delivery
failure reports), ``robots`` (mail that must not be answered) and ``quotes`` (the new part of
the text). Never raises for bad charsets or odd structure; raises a ``MailRejected`` (so the
mail is quarantined) only for mail that is no mail at all, breaks a limit or runs out of time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from typing import Any

from triage_desk.addresses import is_email_address
from triage_desk.clock import system_clock
from triage_desk.config import EmailConfig
from triage_desk.intake.email.authentication import vouches
from triage_desk.intake.email.bounces import detect_bounce
from triage_desk.intake.email.forwarded import stored_payload
from triage_desk.intake.email.headers import (
    address_header,
    address_list,
    all_headers,
    clean_header,
    header_text,
    message_ids,
    raw_header,
    sent_at,
)
from triage_desk.intake.email.html_text import html_to_text
from triage_desk.intake.email.mime import cut_marker, extract, text_of
from triage_desk.intake.email.quotes import split_new_text
from triage_desk.intake.email.robots import robot_reason
from triage_desk.intake.errors import Deadline, Unparseable
from triage_desk.intake.message import InboundMessage

_UNSTORED_HEADERS = frozenset(
    {
        "received",
        "dkim-signature",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
        "x-google-dkim-signature",
    }
)
_DEFAULT_RULES = EmailConfig()
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_KNOWN_HEADER = re.compile(
    rb"(from|to|cc|subject|date|message-id|content-type|mime-version"
    rb"|return-path|reply-to|received|in-reply-to|references)[ \t]*:",
    re.I,
)

__all__ = [
    "decode_part",
    "external_id",
    "html_to_text",
    "inbound_from_email",
    "message_ids",
    "parse_bytes",
    "safe_header",
]


class IntakePolicy(EmailPolicy):
    """``policy.default`` that hands header values out as the raw (unfolded) strings.

    policy.default parses a header into a header object on *every* ``get()``; the parser,
    ``get_content_type()`` and ``get_param()`` do so again and again, which made up two thirds
    of the time for a plain mail. We decode headers ourselves (``headers``, with the charset
    fallbacks the stdlib lacks), so the raw value is all these calls need; everything else
    (``EmailMessage``, line endings, the content manager) is policy.default.
    """

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):  # a header object set in code: as policy.default
            return value
        return "".join(value.splitlines())


POLICY = IntakePolicy()


def parse_bytes(raw: bytes) -> EmailMessage:
    """The parsed mail; ``Unparseable`` for input that is not a mail at all."""
    if not raw or raw.isspace():
        raise Unparseable("empty message")
    if len(raw) > _SINGLE_PART_SHORTCUT_BYTES:
        single = _single_part(raw)
        if single is not None:
            return single
    try:
        message = BytesParser(policy=POLICY).parsebytes(raw)
    except RecursionError as exc:
        raise Unparseable("MIME structure nested too deeply to parse") from exc
    except Exception as exc:  # the stdlib parser is lenient; anything escaping it is a bug
        raise Unparseable(f"the mail parser failed: {type(exc).__name__}: {exc}") from exc
    assert isinstance(message, EmailMessage)
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in message.defects):
        repaired = _repair_header_block(raw)
        if repaired is not None:
            return parse_bytes(repaired)
    if not message.keys():
        # Some forwarders put a line such as "---- Original email message ----" above the
        # header; the header that follows it is the mail.
        start = _header_start(raw)
        if start:
            return parse_bytes(raw[start:])
        raise Unparseable("no header fields: not an RFC 5322 message")
    return message


# Above this size a single-part mail's body is not fed through the stdlib parser.
_SINGLE_PART_SHORTCUT_BYTES = 64 * 1024


def _body_start(raw: bytes) -> int | None:
    """Where the body begins: after the first blank line (None when there is none)."""
    end = raw.find(b"\r\n\r\n")
    bare = raw.find(b"\n\n", 0, end if end >= 0 else len(raw))
    if bare >= 0:
        return bare + 2
    return end + 4 if end >= 0 else None


def _single_part(raw: bytes) -> EmailMessage | None:
    """A mail of one part, parsed as the stdlib parses it but without its line-by-line walk
    over the body, the slow part of a big mail; None when the mail is not that simple.

    For a part that is neither multipart nor message/*, the stdlib's payload is exactly the
    text after the blank line that ends the header; here only the header is parsed, and
    only when it parses cleanly to that very line is the rest set as the payload.
    """
    start = _body_start(raw)
    if start is None:
        return None
    try:
        message = BytesParser(policy=POLICY).parsebytes(raw[:start])
        kind = message.get_content_maintype()
    except Exception:  # the whole parse will say what is wrong
        return None
    if not isinstance(message, EmailMessage) or message.defects or not message.keys():
        return None
    if kind in ("multipart", "message") or stored_payload(message):
        return None
    message.set_payload(raw[start:].decode("ascii", "surrogateescape"))
    return message


def _repair_header_block(raw: bytes) -> bytes | None:
    """The mail with stray lines inside its header made continuation lines, or None.

    Some relays lose the leading whitespace of a folded line (a long Received or a base64
    X- header); the stdlib then ends the header there and the rest of the header, From and
    Subject included, becomes body. Repaired only when real header fields follow the line.
    """
    end = min((i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0), default=-1)
    if end < 0:
        return None
    lines = raw[:end].split(b"\n")
    repaired = False
    for index, line in enumerate(lines[1:], start=1):
        if not line.strip(b"\r") or line[:1] in (b" ", b"\t") or _HEADER_LINE.match(line):
            continue
        if not any(_KNOWN_HEADER.match(later) for later in lines[index + 1 :]):
            return None
        lines[index] = b" " + line
        repaired = True
    return b"\n".join(lines) + raw[end:] if repaired else None


def _header_start(raw: bytes) -> int:
    """Offset of a header block starting within the first three lines, 0 when none."""
    offset = 0
    for _ in range(3):
        end = raw.find(b"\n", offset)
        if end < 0:
            return 0
        offset = end + 1
        if _HEADER_LINE.match(raw, offset) and _HEADER_LINE.match(raw, raw.find(b"\n", offset) + 1):
            return offset
    return 0


def decode_part(part: Message) -> str:
    """The readable text of one MIME part (kept for callers of the first parser)."""
    return text_of(part, Deadline.none())


def external_id(message: Message, raw: bytes) -> str:
    """The Message-ID; when a mail has none, a fingerprint of the raw bytes stands in."""
    ids = message_ids(raw_header(message, "Message-ID"))
    if ids:
        return ids[0]
    return fingerprint(raw)


def fingerprint(raw: bytes) -> str:
    """The id of a mail that has no Message-ID: its bytes' digest."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def reply_address(message: Message, found: str, envelope_sender: str | None) -> str:
    """The sender's address, lower-cased: where an answer to this mail goes.

    ``found`` is the first address the From, Reply-To or Sender header gave. When it is only
    a word ("From: Nobody"), an answer could not reach it: Reply-To, then Sender, then the
    envelope sender (for mail read over IMAP, the Return-Path its last server recorded) give
    the address instead, if one of them is a real one. Otherwise the word stays (staff see
    what the mail said; intake sends nothing to it).
    """
    address = found.strip().lower()
    if "@" in address:
        return address
    for candidate in (
        address_header(message, "Reply-To")[1],
        address_header(message, "Sender")[1],
        envelope_sender if envelope_sender is not None else raw_header(message, "Return-Path"),
    ):
        fallback = (candidate or "").strip().strip("<>").strip().lower()
        if is_email_address(fallback):
            return fallback
    return address


def safe_header(message: Message, name: str) -> str:
    return header_text(message, name)


def inbound_from_email(
    raw: bytes,
    desk: str,
    received_at: dt.datetime | None = None,
    envelope_sender: str | None = None,
    envelope_recipients: tuple[str, ...] = (),
    rules: EmailConfig | None = None,
    deadline: Deadline | None = None,
) -> InboundMessage:
    """The normalised message. Each step runs under its name on ``deadline``, so a mail
    that runs out of time is quarantined saying where; the text is bounded by ``rules``
    (``mime``)."""
    deadline = deadline or Deadline.none()
    with deadline.at("parsing"):
        message = parse_bytes(raw)
        name, address = address_header(message, "From", "Reply-To", "Sender")
        if not address and envelope_sender:
            address = envelope_sender
        reply_to = reply_address(message, address, envelope_sender)
        subject = header_text(message, "Subject")
    linesep = "\r\n" if b"\r\n" in raw[:4096] else "\n"
    rules = rules or _DEFAULT_RULES
    with deadline.at("MIME"):
        content = extract(message, rules, deadline, linesep)
        text = content.text
        if content.cut:
            body = memoryview(raw)[_body_start(raw) or 0 :]
            text = f"{text}\n\n{cut_marker(rules.max_text_chars, body)}"
    with deadline.at("bounce and robot checks"):
        bounce = detect_bounce(message, address, name, subject, content.text, envelope_sender)
        no_reply_reason = robot_reason(message, envelope_sender)
    if bounce is not None and no_reply_reason is None:
        no_reply_reason = "delivery failure report (bounce)"
    with deadline.at("quotes"):
        # The marker is for staff, not the classifier.
        new_text = split_new_text(content.text, deadline, subject)
    recipients = address_list(message, "To", "Cc")
    in_reply_to = message_ids(raw_header(message, "In-Reply-To"))
    own_ids = message_ids(raw_header(message, "Message-ID"))
    return InboundMessage(
        channel="email",
        external_id=own_ids[0] if own_ids else fingerprint(raw),
        desk=desk,
        sender=reply_to,
        sender_name=name or None,
        subject=subject,
        text=text,
        new_text=new_text,
        received_at=received_at or system_clock(),
        recipients=recipients or tuple(r.lower() for r in envelope_recipients),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=message_ids(raw_header(message, "References")),
        headers=all_headers(message, _UNSTORED_HEADERS),
        raw=raw,
        no_reply_reason=no_reply_reason,
        attachments=content.attachments,
        bounce=bounce,
        sent_at=sent_at(message),
        vouches=vouches(authentication_results(message)),
        own_id=bool(own_ids),
        replyable="@" in reply_to,
    )


_MAX_AUTHENTICATION_RESULTS = 20
_MAX_AUTHENTICATION_RESULT_CHARS = 2_000


def authentication_results(message: Message) -> tuple[str, ...]:
    """Every Authentication-Results header's value, top (the newest, our server's) first."""
    values = [
        clean_header(str(value)[:_MAX_AUTHENTICATION_RESULT_CHARS])
        for key, value in message.raw_items()
        if key.lower() == "authentication-results"
    ]
    return tuple(values[:_MAX_AUTHENTICATION_RESULTS])
