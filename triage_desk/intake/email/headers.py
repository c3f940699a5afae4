"""Header values as clean text: encoded words, raw 8-bit bytes and broken syntax survived.

One job: read a parsed mail's headers the way a person would read them. ``policy.default``
turns raw 8-bit header bytes and unknown encoded-word charsets into U+FFFD; here they go
through the same charset fallbacks as bodies (``charsets``) instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from email import policy
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from triage_desk.intake.email.charsets import (
    decode_encoded_words,
    decode_header_text,
    fix_surrogates,
    unfold,
)

_MSGID = re.compile(r"<([^<>\s]+)>")
_BARE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_SIMPLE_ADDRESS = re.compile(
    r'(?:"([^"\\<>]*)"\s*|([^"\\<>,;:()@\[\]]*?)\s*)?<([^<>\s,;"()\\]+@[^<>\s,;"()\\]+)>'
    r'|([^<>\s,;"()\\:]+@[^<>\s,;"()\\:]+)'
)
_LOCAL_ONLY = re.compile(r"[A-Za-z0-9._%+-]+")
_COMMENT = re.compile(r"\([^()]*\)")
_MAX_HEADER_CHARS = 20_000  # a header longer than this is cut before any parsing


def _memo(message: Message) -> dict[str, Any]:
    """Per-message cache: the first raw value of each header, and decoded results.

    A parsed mail is not changed afterwards, and the same headers are read by the parser,
    the robot checks and the bounce detector; reading them once keeps a plain mail cheap.
    """
    memo = message.__dict__.get("_triage_headers")
    if memo is None:
        index: dict[str, str] = {}
        for key, value in message.raw_items():
            index.setdefault(str(key).lower(), str(value)[:_MAX_HEADER_CHARS])
        memo = {"": index}
        message.__dict__["_triage_headers"] = memo
    return memo


def raw_header(message: Message, name: str) -> str | None:
    """The first ``name`` header exactly as stored by the parser (8-bit bytes as surrogates)."""
    return _memo(message)[""].get(name.lower())


def clean_header(raw: str) -> str:
    """Decoded, unfolded, stripped text of one raw header value."""
    if raw.isascii() and "=?" not in raw:
        return unfold(raw).strip()
    return decode_header_text(raw)


def header_text(message: Message, name: str) -> str:
    memo = _memo(message)
    key = "text:" + name.lower()
    if key not in memo:
        raw = memo[""].get(name.lower())
        memo[key] = "" if raw is None else clean_header(raw)
    return memo[key]


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
    """(display name, address) pairs of one address header, however broken.

    ``getaddresses`` splits the list before encoded words are decoded (a decoded name may
    hold commas); display names are then decoded with the charset fallbacks. When it finds no
    address, the stdlib's RFC 5322 parser and finally a bare-address search take over.
    """
    text = unfold(fix_surrogates(raw)).strip()
    if not text:
        return []
    simple = _SIMPLE_ADDRESS.fullmatch(text)
    if simple:  # the common "Name <addr>", '"Name" <addr>' or bare addr: no parser needed
        display = simple.group(1) or simple.group(2) or ""
        if "=?" in display:
            display = decode_encoded_words(display)
        return [(" ".join(display.split()), simple.group(3) or simple.group(4))]
    # An encoded word is one token, whatever it encodes ("=?utf-8?Q?Support:_info@x.lv?="
    # holds a colon and an @): getaddresses splits inside it, the RFC 5322 parser does not.
    pairs = _rfc5322_pairs(name, text) if "=?" in text else []
    if not pairs:
        pairs = [(n, a) for n, a in getaddresses([text]) if "@" in a]
    if not pairs and "=?" not in text:
        pairs = _rfc5322_pairs(name, text)
    if not pairs:
        decoded = decode_encoded_words(text)
        found = _BARE_ADDRESS.findall(decoded)
        if len(found) == 1:
            pairs = [(decoded.split("<", 1)[0].strip(" \"'"), found[0])]
        else:
            pairs = [("", a) for a in found]
    if not pairs:  # a bare local part such as "MAILER-DAEMON (Mail Delivery System)"
        pairs = [(n, a) for n, a in getaddresses([text]) if _LOCAL_ONLY.fullmatch(a)][:1]
    angle = "<" in text
    cleaned: list[tuple[str, str]] = []
    for display, address in pairs:
        if angle and "(" in display:  # a comment beside a real phrase is no part of the name
            display = _COMMENT.sub("", display).strip() or display
        # The stdlib decodes an encoded word in an unknown charset with surrogateescape.
        display = fix_surrogates(" ".join(decode_encoded_words(display).split()))
        display = display.strip("\"' ")
        if display.lower() == address.lower():
            display = ""
        cleaned.append((display, address.strip().strip("<>")))
    return cleaned


def _rfc5322_pairs(name: str, text: str) -> list[tuple[str, str]]:
    """(display name, address) pairs as the stdlib's RFC 5322 header parser reads them."""
    try:
        header = policy.default.header_factory(name, text)
        return [
            (a.display_name or "", a.addr_spec or "")
            for a in getattr(header, "addresses", ())
            if "@" in (a.addr_spec or "")
        ]
    except Exception:  # header parsing bugs in the stdlib must never stop intake
        return []


def address_header(message: Message, *names: str) -> tuple[str, str]:
    """The first (display name, address) in the first of ``names`` that has one.

    Several From headers (spam does that) or a broken first one: the first readable address
    wins. A name given as an RFC 822 comment (``ilze@x.lv (Ilze Kalna)``) is the display name,
    as mail clients show it.
    """
    memo = _memo(message)
    key = "address:" + ",".join(names).lower()
    if key not in memo:
        memo[key] = _first_address(message, [n.lower() for n in names])
    return memo[key]


def _first_address(message: Message, wanted: list[str]) -> tuple[str, str]:
    memo = _memo(message)
    for name in wanted:
        key = "first:" + name
        if key not in memo:
            memo[key] = ("", "")
            for header, value in message.raw_items():
                if header.lower() == name:
                    pairs = _parsed_addresses(header, str(value)[:_MAX_HEADER_CHARS])
                    if pairs:
                        memo[key] = pairs[0]
                        break
        if memo[key][1]:
            return memo[key]
    return "", ""


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


# Message-IDs are stored in 512-character columns, and a derived id (a different mail under a
# known id: ``<id>#<digest>``) must still fit: a longer id is replaced by its digest, the same
# way wherever it appears (Message-ID, In-Reply-To, References), so threading still works.
LONGEST_MESSAGE_ID = 400


def bounded_message_id(value: str) -> str:
    if len(value) <= LONGEST_MESSAGE_ID:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def message_ids(value: str | None) -> tuple[str, ...]:
    return tuple(bounded_message_id(i) for i in _MSGID.findall(fix_surrogates(value or "")))


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
