"""Delivery failure reports (bounces), RFC 3464 DSNs and the non-standard kinds.

One job: decide whether a mail reports that some mail could not be delivered, and if so
whether for good (permanent) or for now (a delay warning), which addresses failed, and the
Message-ID(s) of the mail that bounced (so the pipeline can attach the bounce to its ticket).

The failed addresses come from ``flufl.bounce``, GNU Mailman's kept bounce library: a DSN
parser plus detectors for the formats of Exim, Postfix, qmail, Exchange, GroupWise, Yahoo,
AOL, sendmail, SMTP32 and others. It runs only on mail that looks like a bounce by its
headers, so ordinary mail pays nothing and a person's mail is never scanned into a bounce.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from email.message import Message

from flufl.bounce import all_failures

from triage_desk.intake.email.forwarded import stored_payload
from triage_desk.intake.email.headers import message_ids, raw_header
from triage_desk.intake.message import Bounce

log = logging.getLogger(__name__)
# flufl.bounce logs a full traceback before re-raising a detector's exception; we catch it and
# log one line instead, so hostile mail cannot fill the log with tracebacks.
logging.getLogger("flufl.bounce").addFilter(
    lambda record: not record.getMessage().startswith("Exception in detector")
)

_FAILURE_SUBJECT = re.compile(
    r"undeliver|not (been )?delivered|delivery (status )?notification|delivery fail"
    r"|failure notice|returned mail|returning message|mail delivery (failed|failure|system|warning)"
    r"|could not (be )?deliver|delivery has failed|delivery problem|mail error|non-?deliver"
    r"|delivery report|warning: could not send|delayed mail|delivery delay|mail system error"
    r"|delivery warning|non remis|non distribuable"
    r"|unzustellbar|nicht zustellbar|nepiegādāt|nav piegādāt|netika piegādāt"
    r"|не доставлен|недоставлен|невозможно доставить|не удалось доставить",
    re.I,
)
_WARNING = re.compile(
    r"\bdelay|warning|will (be )?retr|still trying|temporar|not yet been deliv"
    r"|aizkavēt|задерж|отлож",
    re.I,
)
_REPLY_PREFIX = re.compile(r"^\s*(re|fw|fwd|aw|wg|tr|atb|pārs|sv|vs|ответ|отв|пересл)\s*:", re.I)
_ROBOT_LOCAL = (
    "mailer-daemon",
    "postmaster",
    "mail-daemon",
    "maildaemon",
    "mailerdaemon",
    "mdaemon",
    "mail.daemon",
)
_DAEMON_NAME = re.compile(r"mail delivery|mailer.daemon|postmaster|delivery subsystem", re.I)
_VALID_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
)
# RFC 3463 enhanced status codes: class 4 (persistent transient) or 5 (permanent).
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_INLINE_MESSAGE_ID = re.compile(r"^\s*message-id:\s*(<[^<>\s]+>)", re.I | re.M)
_MAX_SCANNED_TEXT = 200_000


def _outer_parts(message: Message) -> Iterator[Message]:
    """The mail's parts, not descending into attached messages: a person forwarding a
    bounce as an attachment has not sent a bounce."""
    stack = [message]
    while stack:
        part = stack.pop()
        yield part
        if part.get_content_maintype() == "multipart" and isinstance(stored_payload(part), list):
            stack.extend(reversed(stored_payload(part)))


def _report_parts(message: Message) -> tuple[bool, list[Message]]:
    """(has a delivery-status part, the attached originals: message/rfc822 or headers)."""
    status = False
    originals: list[Message] = []
    if not message.is_multipart():
        return status, originals
    for count, part in enumerate(_outer_parts(message)):
        if count > 200:
            break
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            status = True
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            originals.append(part)
    return status, originals


def _original_ids(message: Message, originals: list[Message], text: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for part in originals:
        payload = stored_payload(part)
        if isinstance(payload, list) and payload:
            for mid in message_ids(raw_header(payload[0], "Message-ID")):
                found.setdefault(mid, None)
        else:
            raw = part.get_payload(decode=True)
            body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
            for value in _INLINE_MESSAGE_ID.findall(body[:_MAX_SCANNED_TEXT]):
                found.setdefault(value[1:-1], None)
    if not found:  # a non-DSN bounce quoting the original's headers in its text
        for value in _INLINE_MESSAGE_ID.findall(text[:_MAX_SCANNED_TEXT]):
            found.setdefault(value[1:-1], None)
    own = set(message_ids(raw_header(message, "Message-ID")))
    return tuple(mid for mid in found if mid not in own)


def _clean(addresses: frozenset[bytes] | set[bytes]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for raw in addresses:
        address = raw.decode("ascii", "replace").strip().strip("<>").lower()
        if _VALID_ADDRESS.match(address):
            out.setdefault(address, None)
    return tuple(sorted(out))


def _dsn_blocks(message: Message) -> Iterator[Message]:
    """The per-message and per-recipient field blocks of the DSN's delivery-status parts."""
    for part in _outer_parts(message):
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = stored_payload(part)
        yield from payload if isinstance(payload, list) else ()


def _dsn_actions(message: Message) -> set[str]:
    actions: set[str] = set()
    for block in _dsn_blocks(message):
        action = str(block.get("Action", "") or "").strip().lower()
        if action:
            actions.add(action.split()[0])
    return actions


def _status(message: Message, status_part: bool, text: str) -> str | None:
    """The first status code: a DSN's Status field, else one in the report's text."""
    if status_part:
        for block in _dsn_blocks(message):
            found = _STATUS.match(str(block.get("Status", "") or "").strip())
            if found:
                return found.group(1)
    found = _STATUS.search(text[:_MAX_SCANNED_TEXT])
    return found.group(1) if found else None


def detect_bounce(
    message: Message,
    sender: str,
    sender_name: str,
    subject: str,
    text: str,
    envelope_sender: str | None = None,
) -> Bounce | None:
    """The delivery failure this mail reports, or None when it is not a bounce."""
    report_type = (
        str(message.get_param("report-type", "") or "").lower()
        if message.get_content_type() == "multipart/report"
        else ""
    )
    status_part, originals = _report_parts(message)
    strong = (
        report_type == "delivery-status"
        or status_part
        or raw_header(message, "X-Failed-Recipients") is not None
    )
    local = sender.split("@", 1)[0].lower()
    daemon = local.startswith(_ROBOT_LOCAL) or bool(_DAEMON_NAME.search(sender_name))
    return_path = (raw_header(message, "Return-Path") or "").strip()
    null_path = envelope_sender in ("", "<>") or return_path == "<>"
    failure_subject = bool(_FAILURE_SUBJECT.search(subject)) and not _REPLY_PREFIX.match(subject)
    if not (strong or daemon or failure_subject or (null_path and originals)):
        return None

    try:
        temporary, permanent = all_failures(message)
    except Exception as exc:  # a detector tripping over odd mail must not stop intake
        log.warning(
            "bounce detectors failed on a mail from %s: %s: %s", sender, type(exc).__name__, exc
        )
        temporary, permanent = frozenset(), frozenset()
    failed, delayed = _clean(permanent), _clean(temporary)
    header_failed = raw_header(message, "X-Failed-Recipients")
    if not failed and not delayed and header_failed:
        failed = _clean(
            {a.strip().encode("ascii", "replace") for a in header_failed.split(",") if a.strip()}
        )

    if not failed and not delayed:
        evidence = strong or (failure_subject and (daemon or null_path or bool(originals)))
        if not evidence:
            return None
    ids = _original_ids(message, originals, text)
    status = _status(message, status_part, text)
    if failed:
        return Bounce(True, failed, ids, status)
    if delayed:
        return Bounce(False, delayed, ids, status)
    actions = _dsn_actions(message) if status_part else set()
    # A DSN says so in its Action fields; other reports only in their subject.
    permanent = bool(actions & {"failed", "error"}) if actions else not _WARNING.search(subject)
    return Bounce(permanent, (), ids, status)
