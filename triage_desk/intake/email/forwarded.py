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

from triage_desk.intake.email.headers import header_text

FORWARD_MARKER = "---------- Forwarded message ----------"
_SHOWN = ("From", "Date", "Subject", "To", "Cc")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def stored_payload(part: Message) -> list[Message] | str | None:
    """The payload as the parser stored it: a list of parts, or text (8-bit as surrogates).

    ``get_payload()`` without ``decode`` re-decodes 8-bit text with the part's charset label
    and raises on a label such as ``"utf\x00-8"``; intake must never trip over that.
    """
    return part._payload  # type: ignore[attr-defined,no-any-return]


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


def source_linesep(message: Message, default: str) -> str:
    """The line ending the message was written with, read from folded headers and bodies."""
    for _key, value in message.raw_items():
        if "\n" in value:
            return "\r\n" if "\r\n" in value else "\n"
    for count, part in enumerate(message.walk()):
        payload = stored_payload(part)
        if isinstance(payload, str) and "\n" in payload:
            return "\r\n" if "\r\n" in payload else "\n"
        if count > 20:
            break
    return default


class _SourceGenerator(BytesGenerator):
    """Writes header fields exactly as they were parsed: no refolding, no added spaces."""

    def _write_headers(self, msg: Message) -> None:
        newline = self._NL.encode("ascii")  # type: ignore[attr-defined]
        for name, value in msg.raw_items():
            text = f"{name}:{' ' if value else ''}{value}"
            self._fp.write(text.encode("utf-8", "surrogateescape") + newline)  # type: ignore[attr-defined]
        self._fp.write(newline)  # type: ignore[attr-defined]


def message_bytes(inner: Message, linesep: str) -> bytes:
    """The attached message as bytes, headers as they came (no refolding), 8-bit kept."""
    if not inner.keys() and not stored_payload(inner):
        return b""
    buffer = io.BytesIO()
    generator_policy = policy.default.clone(
        linesep=linesep, refold_source="none", cte_type="8bit", max_line_length=0
    )
    try:
        _SourceGenerator(buffer, mangle_from_=False, policy=generator_policy).flatten(inner)
    except (UnicodeError, ValueError, TypeError, LookupError):
        # A part the generator cannot write back (text that is no longer 8-bit clean):
        # its text form, which keeps every character.
        try:
            return inner.as_string(policy=generator_policy).encode("utf-8", "surrogateescape")
        except Exception:  # the raw mail is kept anyway; the .eml is then empty
            return b""
    return buffer.getvalue()
