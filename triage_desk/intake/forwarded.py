"""Mail inside mail (``message/rfc822``): its readable header block, file name and bytes.

One job: present an attached or forwarded message the way mail clients do, so the forwarded
text reads naturally inside the outer mail's text, and keep the attached message itself as
an ``.eml`` file with the bytes it came with.
"""

from __future__ import annotations

import io
import re
from email import policy
from email.generator import BytesGenerator
from email.message import Message

from triage_desk.intake.headers import header_text

FORWARD_MARKER = "---------- Forwarded message ----------"
_SHOWN = ("From", "Date", "Subject", "To", "Cc")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def header_block(inner: Message) -> str:
    """The ``From/Date/Subject/To`` block a mail client shows above a forwarded message."""
    lines = [FORWARD_MARKER]
    for name in _SHOWN:
        value = header_text(inner, name)
        if value:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


def eml_filename(inner: Message) -> str:
    """``<subject>.eml`` as Zammad and mail clients name an attached message."""
    subject = _UNSAFE_NAME.sub(" ", header_text(inner, "Subject")).strip(" .")
    subject = " ".join(subject.split())[:150]
    return f"{subject or 'forwarded message'}.eml"


def message_bytes(inner: Message, linesep: str) -> bytes:
    """The attached message as bytes, headers as they came (no refolding), 8-bit kept."""
    buffer = io.BytesIO()
    generator_policy = policy.default.clone(linesep=linesep, refold_source="none",
                                            cte_type="8bit", max_line_length=0)
    BytesGenerator(buffer, mangle_from_=False, policy=generator_policy).flatten(inner)
    return buffer.getvalue()
