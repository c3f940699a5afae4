"""Long texts as Telegram messages: pieces of at most 4,096 characters, cut where a reader
would pause.

Telegram refuses a message longer than 4,096 characters after entity parsing, so the plain
text is split *before* it is escaped for HTML: a cut can then never fall inside a tag or an
entity such as ``&amp;``. Length is counted in UTF-16 code units, which is how Telegram
counts; it is never less than the count of code points, so a piece fits either way.

A cut goes after a paragraph break if one keeps at least half a message, else after a
sentence (or a line break), else after a space; a text with none of these (a long link) is
cut between characters, never before a combining mark. The pieces joined give the text back.
"""

from __future__ import annotations

import re
import unicodedata

MAX_MESSAGE = 4096  # Telegram's limit on a message's text, in UTF-16 code units

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"(?:[.!?…][)\"'»”]*[ \t]+|\n)\s*")
_WORD = re.compile(r"\s+")


def units(text: str) -> int:
    """The length Telegram sees: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _fitting_prefix(text: str, limit: int) -> int:
    """How many code points of ``text`` fit in ``limit`` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _cut(rest: str, fit: int, limit: int) -> int:
    """Where the first piece of ``rest`` ends; ``fit`` code points of it fit in a message."""
    window = rest[:fit]
    fallback = 0
    for pattern in (_PARAGRAPH, _SENTENCE, _WORD):
        # A cut right after leading whitespace would send a piece with nothing to read.
        ends = [m.end() for m in pattern.finditer(window) if window[: m.end()].strip()]
        if ends and ends[-1] >= limit // 2:
            return ends[-1]
        fallback = fallback or (ends[-1] if ends else 0)
    if fallback:
        return fallback
    cut = fit
    while cut > 1 and unicodedata.combining(rest[cut]):
        cut -= 1  # a letter stays with its accents
    return cut


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-16 units; ``"".join`` gives it back."""
    if limit < 2:
        raise ValueError("limit must leave room for a character outside the BMP")
    pieces: list[str] = []
    rest = text
    while units(rest) > limit:
        cut = _cut(rest, _fitting_prefix(rest, limit), limit)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces
