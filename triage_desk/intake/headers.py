"""Header values as clean text: encoded words, raw 8-bit bytes and broken syntax survived.

One job: read a parsed mail's headers the way a person would read them. ``policy.default``
turns raw 8-bit header bytes and unknown encoded-word charsets into U+FFFD; here they go
through the same charset fallbacks as bodies (``charsets``) instead.
"""

from __future__ import annotations

import datetime as dt
import re
from email import policy
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from triage_desk.intake.charsets import (
    decode_encoded_words,
    decode_header_text,
    fix_surrogates,
    unfold,
)

_MSGID = re.compile(r"<([^<>\s]+)>")
_BARE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_MAX_HEADER_CHARS = 20_000  # a header longer than this is cut before any parsing


def raw_header(message: Message, name: str) -> str | None:
    """The first ``name`` header exactly as stored by the parser (8-bit bytes as surrogates)."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return str(value)[:_MAX_HEADER_CHARS]
    return None


def clean_header(raw: str) -> str:
    """Decoded, unfolded, stripped text of one raw header value."""
    if raw.isascii() and "=?" not in raw:
        return unfold(raw).strip()
    return decode_header_text(raw)


def header_text(message: Message, name: str) -> str:
    raw = raw_header(message, name)
    return "" if raw is None else clean_header(raw)


def all_headers(message: Message, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """First value of every header (decoded), except the names in ``skip`` (lower-case)."""
    headers: dict[str, str] = {}
    for key, value in message.raw_items():
        name = fix_surrogates(str(key))
        if name.lower() in skip or name in headers:
            continue
        headers[name] = clean_header(str(value)[:_MAX_HEADER_CHARS])
    return headers


def _parsed_addresses(name: str, raw: str) -> list[tuple[str, str]]:
    """(display name, address) pairs, by the stdlib's RFC 5322 parser when it copes."""
    text = fix_surrogates(raw)
    pairs: list[tuple[str, str]] = []
    try:
        header = policy.default.header_factory(name, unfold(text))
        for address in getattr(header, "addresses", ()):
            pairs.append((address.display_name or "", address.addr_spec or ""))
    except Exception:  # header parsing bugs in the stdlib must never stop intake
        pairs = []
    pairs = [(n, a) for n, a in pairs if "@" in a or a]
    if not pairs or not any("@" in a for _n, a in pairs):
        decoded = decode_encoded_words(unfold(text))
        pairs = [(n, a) for n, a in getaddresses([decoded]) if a]
        if not any("@" in a for _n, a in pairs):
            found = _BARE_ADDRESS.findall(decoded)
            if found:
                pairs = [(decoded.split("<", 1)[0].strip(' "\''), found[0])] if len(found) == 1 \
                    else [("", a) for a in found]
    cleaned: list[tuple[str, str]] = []
    for display, address in pairs:
        display = decode_encoded_words(display).strip()
        cleaned.append((" ".join(display.split()), address.strip().strip("<>")))
    return cleaned


def address_header(message: Message, name: str) -> tuple[str, str]:
    """The first (display name, address) of an address header, ("", "") when none.

    A name given as an RFC 822 comment (``ilze@x.lv (Ilze Kalna)``) is used as the display
    name, as mail clients show it.
    """
    raw = raw_header(message, name)
    if not raw:
        return "", ""
    pairs = _parsed_addresses(name, raw)
    if not pairs:
        return "", ""
    display, address = pairs[0]
    if not display and "(" in raw:
        comment_name, _addr = parseaddr(decode_encoded_words(unfold(fix_surrogates(raw))))
        display = comment_name.strip()
    return display, address


def address_list(message: Message, *names: str) -> tuple[str, ...]:
    """Every address in the named headers, lower-cased, in order, without repeats."""
    found: dict[str, None] = {}
    wanted = {n.lower() for n in names}
    for key, value in message.raw_items():
        if key.lower() not in wanted:
            continue
        for _display, address in _parsed_addresses(key, str(value)[:_MAX_HEADER_CHARS]):
            if "@" in address:
                found.setdefault(address.lower(), None)
    return tuple(found)


def message_ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value or ""))


def sent_at(message: Message) -> dt.datetime | None:
    """The Date header as an aware datetime (UTC when it names no zone); None if unreadable."""
    raw = header_text(message, "Date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        return when.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None
