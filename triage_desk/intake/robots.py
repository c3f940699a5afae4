"""Mail that must never get an automatic answer: auto-replies, bounces, lists (no mail loops).

Each check is one small function over the parsed headers; ``ROBOT_CHECKS`` is the ordered
chain a reader sees at a glance (the shape of Zammad's postmaster filters).
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr

RobotCheck = Callable[[EmailMessage, str | None], str | None]

_ROBOT_LOCALPARTS = (
    "mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply",
    "do-not-reply", "bounce", "bounces",
)


def auto_submitted(mail: EmailMessage, _sender: str | None) -> str | None:
    value = str(mail.get("Auto-Submitted", "")).strip().lower()
    if value and not value.startswith("no"):
        return f"Auto-Submitted: {value}"  # RFC 3834
    return None


def precedence(mail: EmailMessage, _sender: str | None) -> str | None:
    value = str(mail.get("Precedence", "")).strip().lower()
    if value in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {value}"
    return None


def mailing_list(mail: EmailMessage, _sender: str | None) -> str | None:
    for header in ("List-Id", "List-Unsubscribe", "List-Post"):
        if mail.get(header):
            return f"mailing list ({header})"
    return None


def autoreply_headers(mail: EmailMessage, _sender: str | None) -> str | None:
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponse", "X-Auto-Response-Suppress"):
        if mail.get(header):
            return f"auto-reply header {header}"
    return None


def null_return_path(mail: EmailMessage, envelope_sender: str | None) -> str | None:
    return_path = mail.get("Return-Path")
    if envelope_sender == "" or (return_path is not None and str(return_path).strip() == "<>"):
        return "null return path (a bounce or notification)"
    return None


def robot_sender(mail: EmailMessage, _sender: str | None) -> str | None:
    _name, address = parseaddr(str(mail.get("From", "")))
    local = address.split("@", 1)[0].lower()
    if local in _ROBOT_LOCALPARTS or local.startswith(("noreply", "no-reply")):
        return f"robot sender {address}"
    return None


def delivery_report(mail: EmailMessage, _sender: str | None) -> str | None:
    if mail.get_content_type() == "multipart/report":
        return "delivery or read report (multipart/report)"
    return None


ROBOT_CHECKS: list[RobotCheck] = [
    auto_submitted,
    precedence,
    mailing_list,
    autoreply_headers,
    null_return_path,
    robot_sender,
    delivery_report,
]


def robot_reason(mail: EmailMessage, envelope_sender: str | None = None) -> str | None:
    """The first reason this mail must not be auto-answered, or None for a person."""
    for check in ROBOT_CHECKS:
        reason = check(mail, envelope_sender)
        if reason:
            return reason
    return None
